//! The v3 model: kinds, schema-driven decoding, validation, selectors, IPAM types.

pub mod cel;
pub mod gotags;
pub mod gotypes;
pub mod govalue;
pub mod ipam;
pub mod k8s_names;
pub mod kinds;
pub mod manifest;
pub mod meta;
pub mod openapi;
pub mod policyvalid;
pub mod schema;
pub mod selector;
pub mod structval;
pub mod validate;
pub mod version;
pub mod yaml_in;
