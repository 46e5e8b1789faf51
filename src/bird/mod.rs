//! BIRD control-socket client (being written).
