//! The clap definition: the one source for parsing, `--help`, shell completions and the man
//! page. Flag names, short forms and defaults follow calicoctl v3.32.1; flags marked "beyond"
//! are ours.

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

// `resource_list!()`, generated from the kinds the schemas define.
include!(concat!(env!("OUT_DIR"), "/resource_list.rs"));

const CRUD_AFTER_HELP: &str = resource_list!();

/// The top level.
#[derive(Debug, Parser)]
#[command(
    name = "calicoctl",
    about = "The calicoctl command line tool is used to manage Calico network and security\npolicy, to view and manage endpoint configuration, and to manage a Calico\nnode instance.",
    long_about = None,
    disable_version_flag = true,
    infer_long_args = true,
    subcommand_required = true,
    arg_required_else_help = false,
    after_help = "Set the Calico datastore access information in the environment variables or\nsupply details in a config file (default /etc/calico/calicoctl.cfg).\nSee 'calicoctl <command> --help' to read about a specific subcommand."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Options accepted before or after the command word.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Set the log level (one of panic, fatal, error, warn, info, debug, trace).
    #[arg(
        short = 'l',
        long = "log-level",
        global = true,
        default_value = "panic",
        value_name = "level"
    )]
    pub log_level: String,

    /// The name of the context to use: a named context of the config file, or the kubeconfig
    /// context for the Kubernetes datastore.
    #[arg(long, global = true, value_name = "context", add = clap_complete::engine::ArgValueCompleter::new(crate::complete::contexts))]
    pub context: Option<String>,

    /// Allow client and cluster versions mismatch.
    #[arg(long = "allow-version-mismatch", global = true)]
    pub allow_version_mismatch: bool,

    /// Path to the file containing connection configuration in YAML or JSON format.
    #[arg(short = 'c', long = "config", global = true, value_name = "CONFIG", default_value = crate::config::DEFAULT_CONFIG_PATH)]
    pub config: String,

    /// Bound on connecting to and on each request to the datastore (beyond calicoctl).
    #[arg(long, global = true, value_name = "DURATION", default_value = "10s")]
    pub timeout: String,

    /// Print calicoctl's pointer to the version command.
    #[arg(long = "version", action = ArgAction::SetTrue, hide = true)]
    pub version_flag: bool,
}

/// File input shared by create/apply/replace/delete/get/validate/diff.
#[derive(Debug, Clone, Args)]
pub struct FileArgs {
    /// Filename to use to create the resource. If set to "-" loads from stdin. If filename is a
    /// directory, this command is invoked for each .json .yaml and .yml file within that directory.
    #[arg(short = 'f', long = "filename", value_name = "FILENAME", value_hint = clap::ValueHint::AnyPath)]
    pub filename: Option<String>,

    /// If filename is a directory, walk through the directory recursively.
    #[arg(short = 'R', long = "recursive")]
    pub recursive: bool,

    /// Do not error if any files are empty.
    #[arg(long = "skip-empty")]
    pub skip_empty: bool,
}

/// `-n/--namespace`.
#[derive(Debug, Clone, Args)]
pub struct NamespaceArg {
    /// Namespace of the resource. Only applicable to NetworkPolicy, NetworkSet and
    /// WorkloadEndpoint. Uses the default namespace if not specified.
    #[arg(short = 'n', long = "namespace", value_name = "NS")]
    pub namespace: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a resource by file, directory or stdin.
    #[command(after_help = CRUD_AFTER_HELP, after_long_help = concat!("Examples:\n  # Create a set of resources from a file (IP pools, BGP peers, policies):\n  calicoctl create -f ./resources.yaml\n\n  # Create from stdin, skipping what already exists:\n  cat pool.yaml | calicoctl create --skip-exists -f -\n\n", resource_list!()))]
    Create(CreateArgs),
    /// Replace a resource by file, directory or stdin.
    #[command(after_help = CRUD_AFTER_HELP, after_long_help = concat!("Examples:\n  # Change a pool's settings from an edited export:\n  calicoctl get ippool default-ipv4-ippool -o yaml > pool.yaml\n  calicoctl replace -f pool.yaml", "\n\n", resource_list!()))]
    Replace(ReplaceArgs),
    /// Apply a resource by file, directory or stdin. This creates a resource if it does not
    /// exist, and replaces a resource if it does exists.
    #[command(after_help = CRUD_AFTER_HELP, after_long_help = concat!("Examples:\n  # Disable the node-to-node mesh, peer with a ToR switch and add a pool:\n  cat <<EOF | calicoctl apply -f -\n  apiVersion: projectcalico.org/v3\n  kind: BGPConfiguration\n  metadata: {name: default}\n  spec: {nodeToNodeMeshEnabled: false, asNumber: 64512}\n  ---\n  apiVersion: projectcalico.org/v3\n  kind: BGPPeer\n  metadata: {name: rack1-tor}\n  spec: {peerIP: 192.168.1.1, asNumber: 64513, nodeSelector: rack == 'r1'}\n  ---\n  apiVersion: projectcalico.org/v3\n  kind: IPPool\n  metadata: {name: pool-a}\n  spec: {cidr: 10.244.0.0/16, natOutgoing: true}\n  EOF\n\n  # Show what would change, without writing:\n  calicoctl apply --dry-run -f policy.yaml", "\n\n", resource_list!()))]
    Apply(ApplyArgs),
    /// Patch a preexisting resource in place.
    #[command(after_help = CRUD_AFTER_HELP, after_long_help = concat!("Examples:\n  # Enable Prometheus metrics in Felix:\n  calicoctl patch felixconfiguration default -p '{\"spec\":{\"prometheusMetricsEnabled\": true}}'\n\n  # Disable an IP pool:\n  calicoctl patch ippool pool-a -p '{\"spec\":{\"disabled\": true}}'", "\n\n", resource_list!()))]
    Patch(PatchArgs),
    /// Delete a resource identified by file, directory, stdin or resource type and name.
    #[command(after_help = CRUD_AFTER_HELP, after_long_help = concat!("Examples:\n  calicoctl delete bgppeer rack1-tor\n  calicoctl delete networkpolicy allow-dns -n kube-system\n  # Everything a file describes:\n  calicoctl delete -f ./resources.yaml --skip-not-exists", "\n\n", resource_list!()))]
    Delete(DeleteArgs),
    /// Get a resource identified by file, directory, stdin or resource type and name.
    #[command(after_help = CRUD_AFTER_HELP, after_long_help = concat!("Examples:\n  calicoctl get ippools -o wide\n  calicoctl get nodes -o yaml\n  calicoctl get networkpolicy -A\n  calicoctl get bgppeer rack1-tor -o jsonpath='{.spec.peerIP}'\n  calicoctl get ippool -o custom-columns=NAME,CIDR", "\n\n", resource_list!()))]
    Get(GetArgs),
    /// Add or update labels of resources.
    #[command(after_help = CRUD_AFTER_HELP, after_long_help = concat!("Examples:\n  calicoctl label nodes worker-1 rack=r1\n  calicoctl label nodes worker-1 rack=r2 --overwrite\n  calicoctl label nodes worker-1 rack --remove", "\n\n", resource_list!()))]
    Label(LabelArgs),
    /// Validate a resource by file, directory or stdin without applying it.
    #[command(after_help = CRUD_AFTER_HELP, after_long_help = concat!("Examples:\n  calicoctl validate -f ./policies/\n  cat pool.yaml | calicoctl validate -f -", "\n\n", resource_list!()))]
    Validate(ValidateArgs),
    /// Show differences between files and the datastore (beyond calicoctl; exit 0 same, 1
    /// differs, >1 error).
    #[command(
        after_long_help = "Examples:\n  # What would apply change?\n  calicoctl diff -f ./resources.yaml\n  calicoctl apply -f ./resources.yaml --dry-run"
    )]
    Diff(DiffArgs),
    /// Explain and trace network policy: which policies select an endpoint, and whether a
    /// packet would be allowed, by which rule (beyond calicoctl).
    Policy(PolicyArgs),
    /// IP address management.
    Ipam(IpamArgs),
    /// Calico node management.
    Node(NodeArgs),
    /// Display the version of this binary.
    #[command(
        after_long_help = "Examples:\n  calicoctl version\n  calicoctl version --client\n  # Wait until the cluster reports a version:\n  calicoctl version --poll=5s"
    )]
    Version(VersionArgs),
    /// Calico datastore management.
    Datastore(DatastoreArgs),
    /// Access cluster information.
    Cluster(ClusterArgs),
    /// Show or change calicoctl's configuration contexts (beyond calicoctl).
    Config(ConfigArgs),
    /// Print a shell completion script (beyond calicoctl).
    #[command(
        after_long_help = "Examples:\n  source <(calicoctl completion bash)\n  calicoctl completion zsh > \"${fpath[1]}/_calicoctl\"\n  calicoctl completion fish > ~/.config/fish/completions/calicoctl.fish"
    )]
    Completion(CompletionArgs),
    /// Developer tools: synthetic cluster data for benchmarks and tests.
    #[command(hide = true)]
    Dev(DevArgs),
}

#[derive(Debug, Args)]
pub struct DevArgs {
    #[command(subcommand)]
    pub command: DevCommand,
}

#[derive(Debug, Subcommand)]
pub enum DevCommand {
    /// Writes a realistic synthetic cluster: nodes, a pool, blocks with allocations, handles,
    /// affinities, workload endpoints, some leaked and borrowed IPs, Felix reports.
    Seed(SeedArgs),
    /// Regenerates the checked-in completion scripts and man pages from the clap definition.
    Gen(GenArgs),
}

#[derive(Debug, Args)]
pub struct GenArgs {
    /// Directory for the completion scripts.
    #[arg(long, default_value = "completions")]
    pub completions: String,
    /// Directory for the man pages.
    #[arg(long, default_value = "docs/man")]
    pub man: String,
    /// Directory for the Markdown command reference.
    #[arg(long, default_value = "docs/reference")]
    pub reference: String,
}

#[derive(Debug, Args)]
pub struct SeedArgs {
    #[arg(long, default_value = "10")]
    pub nodes: usize,
    #[arg(long = "blocks-per-node", default_value = "2")]
    pub blocks_per_node: usize,
    /// Allocations per block.
    #[arg(long = "ips-per-block", default_value = "30")]
    pub ips_per_block: usize,
    #[arg(long = "block-size", default_value = "26")]
    pub block_size: u8,
    #[arg(long = "pool-cidr", default_value = "10.0.0.0/8")]
    pub pool_cidr: String,
    /// Also write a WorkloadEndpoint for every (non-leaked) pod IP.
    #[arg(long)]
    pub weps: bool,
    /// Percentage of pod allocations with no workload (leaks).
    #[arg(long = "leak-percent", default_value = "5")]
    pub leak_percent: usize,
    /// Percentage of pod allocations made by another node (borrowed).
    #[arg(long = "borrow-percent", default_value = "2")]
    pub borrow_percent: usize,
    /// The last N nodes are dead: their Felix reports are old and they have no workloads.
    #[arg(long = "dead-nodes", default_value = "0")]
    pub dead_nodes: usize,
    /// Write Felix status reports (etcd).
    #[arg(long = "felix-reports")]
    pub felix_reports: bool,
    /// The first N nodes get 5 × (N − n) extra allocations (in use, spread over their blocks),
    /// so the top of `ipam check`'s node list has no ties: calicoctl orders tied nodes by Go's
    /// random map order, so only tie-free data gives byte-comparable output.
    #[arg(long = "top-nodes", default_value = "0")]
    pub top_nodes: usize,
    #[arg(long, default_value = "64")]
    pub concurrency: usize,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub file: FileArgs,
    /// Skip over and treat as successful any attempts to create an entry that already exists.
    #[arg(long = "skip-exists")]
    pub skip_exists: bool,
    #[command(flatten)]
    pub ns: NamespaceArg,
}

#[derive(Debug, Args)]
pub struct ReplaceArgs {
    #[command(flatten)]
    pub file: FileArgs,
    #[command(flatten)]
    pub ns: NamespaceArg,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub file: FileArgs,
    #[command(flatten)]
    pub ns: NamespaceArg,
    /// Print what would be created/configured/unchanged without writing (beyond calicoctl; exit
    /// codes as diff).
    #[arg(long = "dry-run")]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct PatchArgs {
    /// The resource type.
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::complete::kinds))]
    pub kind: String,
    /// The name of the resource.
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::complete::names))]
    pub name: String,
    /// Spec to use to patch the resource.
    #[arg(short = 'p', long = "patch", value_name = "PATCH")]
    pub patch: String,
    /// Format of patch type: strategic (default), json, merge. Accepted and ignored, like
    /// calicoctl (a strategic merge patch is always applied).
    #[arg(
        short = 't',
        long = "type",
        value_name = "TYPE",
        default_value = "strategic"
    )]
    pub patch_type: String,
    #[command(flatten)]
    pub ns: NamespaceArg,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The resource type.
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::complete::kinds))]
    pub kind: Option<String>,
    /// The names of the resources.
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::complete::names))]
    pub names: Vec<String>,
    #[command(flatten)]
    pub file: FileArgs,
    /// Skip over and treat as successful, resources that don't exist.
    #[arg(short = 's', long = "skip-not-exists")]
    pub skip_not_exists: bool,
    #[command(flatten)]
    pub ns: NamespaceArg,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// The resource type.
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::complete::kinds))]
    pub kind: Option<String>,
    /// The names of the resources.
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::complete::names))]
    pub names: Vec<String>,
    #[command(flatten)]
    pub file: FileArgs,
    /// Output format. One of: yaml, json, ps, wide, custom-columns=..., go-template=...,
    /// go-template-file=..., and (beyond calicoctl) name, jsonpath=..., jsonpath-file=...
    #[arg(
        short = 'o',
        long = "output",
        value_name = "OUTPUT FORMAT",
        default_value = "ps"
    )]
    pub output: String,
    #[command(flatten)]
    pub ns: NamespaceArg,
    /// If present, list the requested object(s) across all namespaces.
    #[arg(short = 'A', long = "all-namespaces")]
    pub all_namespaces: bool,
    /// If present, returns the requested object(s) stripped of cluster-specific information.
    /// This flag will be ignored if the resource name is not specified.
    #[arg(long = "export")]
    pub export: bool,
    /// Do not print table headers (beyond calicoctl).
    #[arg(long = "no-headers")]
    pub no_headers: bool,
}

#[derive(Debug, Args)]
pub struct LabelArgs {
    /// The resource type.
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::complete::kinds))]
    pub kind: String,
    /// The name of the resource.
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::complete::names))]
    pub name: String,
    /// `key=value` to set, or `key` with --remove.
    pub label: String,
    /// If true, overwrite the value when the key is already present in labels.
    #[arg(long)]
    pub overwrite: bool,
    /// If true, remove the specified key in labels of the resource.
    #[arg(long)]
    pub remove: bool,
    #[command(flatten)]
    pub ns: NamespaceArg,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub file: FileArgs,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub file: FileArgs,
    #[command(flatten)]
    pub ns: NamespaceArg,
}

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Poll for changes to the cluster information at a frequency specified using POLL
    /// duration (e.g. 1s, 10m, 2h etc.). A value of 0 (the default) disables polling.
    #[arg(long, value_name = "POLL")]
    pub poll: Option<String>,
    /// Display only the client version.
    #[arg(long)]
    pub client: bool,
}

#[derive(Debug, Args)]
#[command(subcommand_required = true)]
pub struct IpamArgs {
    #[command(subcommand)]
    pub command: IpamCommand,
}

#[derive(Debug, Subcommand)]
pub enum IpamCommand {
    /// Check the integrity of the IPAM datastructures.
    #[command(
        after_long_help = "Examples:\n  calicoctl ipam check\n  # Write a report of leaked IPs, then release them:\n  calicoctl ipam check -o report.json\n  calicoctl ipam release --from-report=report.json"
    )]
    Check(IpamCheckArgs),
    /// Release a Calico assigned IP address.
    #[command(
        after_long_help = "Examples:\n  calicoctl ipam release --ip=10.244.7.3\n  calicoctl ipam release --from-report=report.json"
    )]
    Release(IpamReleaseArgs),
    /// Show details of a Calico configuration, assigned IP address, or of overall IP usage.
    #[command(
        after_long_help = "Examples:\n  calicoctl ipam show\n  calicoctl ipam show --show-blocks\n  calicoctl ipam show --ip=10.244.7.3"
    )]
    Show(IpamShowArgs),
    /// Split the IP pool specified by the CIDR into the specified number of smaller IPPools.
    #[command(
        after_long_help = "Examples:\n  # Split a /16 pool into four /18 pools:\n  calicoctl ipam split --cidr=10.244.0.0/16 4"
    )]
    Split(IpamSplitArgs),
    /// Configure IPAM.
    #[command(
        after_long_help = "Examples:\n  calicoctl ipam configure --strictaffinity=true\n  calicoctl ipam configure --strictaffinity=true --max-blocks-per-host=4"
    )]
    Configure(IpamConfigureArgs),
    /// Assign one IP to a handle the way CNI does (for tests and data generation).
    #[command(hide = true)]
    Assign(IpamAssignArgs),
}

#[derive(Debug, Args)]
pub struct IpamAssignArgs {
    #[arg(long)]
    pub ip: String,
    #[arg(long)]
    pub handle: String,
    /// The host whose block the IP goes in (claimed if needed) and the `node` attribute.
    #[arg(long)]
    pub node: String,
    /// Extra attributes `k=v` (repeatable).
    #[arg(long = "attr")]
    pub attrs: Vec<String>,
}

#[derive(Debug, Args)]
pub struct IpamCheckArgs {
    /// Print all IPs that are checked.
    #[arg(long = "show-all-ips")]
    pub show_all_ips: bool,
    /// Print all IPs that are leaked or not allocated properly.
    #[arg(long = "show-problem-ips")]
    pub show_problem_ips: bool,
    /// Path to output report file.
    #[arg(short = 'o', long = "output", value_name = "OUTPUT")]
    pub output: Option<String>,
    /// Path to Kubeconfig file (used with the etcd datastore to read pods).
    #[arg(long, value_name = "KUBECONFIG")]
    pub kubeconfig: Option<String>,
}

#[derive(Debug, Args)]
pub struct IpamReleaseArgs {
    /// IP address to release.
    #[arg(long, value_name = "IP")]
    pub ip: Option<String>,
    /// Report file(s) produced by 'ipam check -o' to release leaked IPs and handles from.
    #[arg(long = "from-report", value_name = "REPORT")]
    pub from_report: Vec<String>,
    /// Force release of leaked addresses.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct IpamShowArgs {
    /// Report whether this specific IP address is in use.
    #[arg(long, value_name = "IP", conflicts_with_all = ["show_blocks", "show_borrowed", "show_configuration"])]
    pub ip: Option<String>,
    /// Show detailed information for IP blocks as well as pools.
    #[arg(long = "show-blocks", conflicts_with_all = ["show_borrowed", "show_configuration"])]
    pub show_blocks: bool,
    /// Show detailed information for "borrowed" IP addresses.
    #[arg(long = "show-borrowed", conflicts_with = "show_configuration")]
    pub show_borrowed: bool,
    /// Show current Calico IPAM configuration.
    #[arg(long = "show-configuration")]
    pub show_configuration: bool,
    /// Output format: table (default), json or yaml (beyond calicoctl).
    #[arg(
        short = 'o',
        long = "output",
        value_name = "FORMAT",
        default_value = "table"
    )]
    pub output: String,
    /// Exit 3 when a pool's use is above this percentage (beyond calicoctl).
    #[arg(long = "fail-above", value_name = "PERCENT")]
    pub fail_above: Option<f64>,
    /// Per-pool/per-node utilisation with warnings (beyond calicoctl).
    #[arg(long)]
    pub utilization: bool,
}

#[derive(Debug, Args)]
pub struct IpamSplitArgs {
    /// The number of smaller pools to split into (a power of 2).
    pub number: String,
    /// CIDR of the IP pool to split.
    #[arg(long, value_name = "CIDR")]
    pub cidr: Option<String>,
    /// Name of the IP pool to split.
    #[arg(long, value_name = "POOL_NAME")]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct IpamConfigureArgs {
    /// Set StrictAffinity to true/false.
    #[arg(long, value_name = "true/false")]
    pub strictaffinity: Option<String>,
    /// Set the maximum number of blocks that can be affine to each host.
    #[arg(long = "max-blocks-per-host", value_name = "number")]
    pub max_blocks_per_host: Option<String>,
    /// Set KubeVirtVMAddressPersistence (Enabled or Disabled).
    #[arg(long = "kubevirt-ip-persistence", value_name = "Enabled|Disabled")]
    pub kubevirt_ip_persistence: Option<String>,
}

#[derive(Debug, Args)]
#[command(
    subcommand_required = true,
    about = "Calico node management.",
    long_about = "These commands must be run directly on the compute host running the Calico node instance."
)]
pub struct NodeArgs {
    #[command(subcommand)]
    pub command: NodeCommand,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Table,
    Json,
    Yaml,
}

#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// View the current status of a Calico node.
    #[command(
        after_long_help = "Examples:\n  sudo calicoctl node status\n  # In a health check: exit 3 when a BGP peer is down:\n  sudo calicoctl node status --check"
    )]
    Status(NodeStatusArgs),
    /// Gather a diagnostics bundle for a Calico node.
    #[command(
        after_long_help = "Examples:\n  sudo calicoctl node diags\n  sudo calicoctl node diags --log-dir=/var/log/calico"
    )]
    Diags(NodeDiagsArgs),
    /// Verify the compute host is able to run a Calico node instance.
    #[command(
        after_long_help = "Examples:\n  calicoctl node checksystem\n  calicoctl node checksystem --kernel-config=/boot/config-$(uname -r)"
    )]
    Checksystem(NodeChecksystemArgs),
    /// Show which IP addresses calico-node's autodetection methods would pick (beyond calicoctl).
    #[command(
        name = "ip-autodetect",
        after_long_help = "Examples:\n  calicoctl node ip-autodetect\n  calicoctl node ip-autodetect --method=interface=eth0\n  calicoctl node ip-autodetect --method=can-reach=10.0.0.1 --check-datastore"
    )]
    IpAutodetect(NodeAutodetectArgs),
    /// Find Calico nodes whose host is gone and remove everything they left (beyond calicoctl).
    #[command(
        after_long_help = "Examples:\n  # Show the plan: which nodes are dead, on what evidence, and everything they left:\n  calicoctl node cleanup\n\n  # Compare with the Kubernetes cluster (etcd datastore) and remove after confirmation:\n  calicoctl node cleanup --kubeconfig ~/.kube/config --apply\n\n  # In CI: remove one node known to be gone, then review what happened as JSON:\n  calicoctl node cleanup old-worker-3 --apply --yes -o json\n\n  # Save a plan, review it, apply exactly it:\n  calicoctl node cleanup -o json > plan.json\n  calicoctl node cleanup --plan plan.json --apply --yes"
    )]
    Cleanup(NodeCleanupArgs),
}

#[derive(Debug, Args)]
pub struct NodeStatusArgs {
    /// BIRD (IPv4, or BIRD 2 for both families) control socket (beyond calicoctl).
    #[arg(long = "bird-socket", value_name = "PATH", value_hint = clap::ValueHint::FilePath)]
    pub bird_socket: Option<String>,
    /// BIRD 1.x IPv6 control socket (beyond calicoctl).
    #[arg(long = "bird6-socket", value_name = "PATH", value_hint = clap::ValueHint::FilePath)]
    pub bird6_socket: Option<String>,
    /// Output format (beyond calicoctl).
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    pub output: ReportFormat,
    /// Exit 3 when a BGP peer is not Established (beyond calicoctl).
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct NodeDiagsArgs {
    /// The directory containing Calico logs.
    #[arg(
        long = "log-dir",
        value_name = "LOG_DIR",
        default_value = "/var/log/calico"
    )]
    pub log_dir: String,
}

#[derive(Debug, Args)]
pub struct NodeChecksystemArgs {
    /// Override the kernel config file location.
    #[arg(short = 'f', long = "kernel-config", value_name = "kernel-config")]
    pub kernel_config: Option<String>,
    /// Test hook: read /lib/modules, /proc, /sys and /boot below this directory.
    #[arg(long = "host-root", hide = true)]
    pub host_root: Option<String>,
    /// Test hook: the kernel release to check instead of the running one.
    #[arg(long = "kernel-release", hide = true)]
    pub kernel_release: Option<String>,
}

#[derive(Debug, Args)]
pub struct NodeAutodetectArgs {
    /// IPv4 autodetection method (IP_AUTODETECTION_METHOD syntax).
    #[arg(long, value_name = "METHOD", default_value = "first-found")]
    pub method: String,
    /// IPv6 autodetection method (IP6_AUTODETECTION_METHOD syntax).
    #[arg(
        long = "ip6-method",
        value_name = "METHOD",
        default_value = "first-found"
    )]
    pub ip6_method: String,
    /// Name of this node's Node resource, to compare with (defaults to the hostname).
    #[arg(long = "name", value_name = "NODE")]
    pub name: Option<String>,
    /// Also compare with the Node resources in the datastore.
    #[arg(long = "check-datastore")]
    pub check_datastore: bool,
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    pub output: ReportFormat,
}

#[derive(Debug, Args)]
pub struct NodeCleanupArgs {
    /// Nodes to consider explicitly (otherwise: all nodes with evidence of death).
    pub nodes: Vec<String>,
    /// Make the changes (default is a dry run that only prints the plan).
    #[arg(long)]
    pub apply: bool,
    /// Do not ask for confirmation (for CI).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Also remove nodes that show signs of life.
    #[arg(long)]
    pub force: bool,
    /// A Felix report older than this proves a node dead (etcd).
    #[arg(long = "stale-after", value_name = "DURATION", default_value = "24h")]
    pub stale_after: String,
    /// Kubeconfig to check Kubernetes Nodes against (etcd datastore).
    #[arg(long, value_name = "KUBECONFIG")]
    pub kubeconfig: Option<String>,
    /// Local BIRD socket to look for Established sessions to candidate nodes.
    #[arg(long = "bird-socket", value_name = "PATH")]
    pub bird_socket: Option<String>,
    /// Apply a plan saved with `-o json` (evidence and revisions are checked again).
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub plan: Option<String>,
    /// How many nodes are cleaned up at once.
    #[arg(long, value_name = "N", default_value = "32")]
    pub concurrency: usize,
    /// Output format of the plan and the result.
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    pub output: ReportFormat,
    /// Test hook: stop after N changes, as if the process were killed.
    #[arg(long = "stop-after-steps", hide = true)]
    pub stop_after_steps: Option<usize>,
}

#[derive(Debug, Args)]
#[command(subcommand_required = true)]
pub struct DatastoreArgs {
    #[command(subcommand)]
    pub command: DatastoreCommand,
}

#[derive(Debug, Subcommand)]
pub enum DatastoreCommand {
    /// Migrate the contents of an etcdv3 datastore to a Kubernetes datastore.
    Migrate(MigrateArgs),
}

#[derive(Debug, Args)]
#[command(subcommand_required = true)]
pub struct MigrateArgs {
    #[command(subcommand)]
    pub command: MigrateCommand,
}

#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Export the contents of the etcdv3 datastore to yaml.
    #[command(
        after_long_help = "Examples:\n  calicoctl datastore migrate lock\n  calicoctl datastore migrate export > etcd-data\n  DATASTORE_TYPE=kubernetes KUBECONFIG=~/.kube/config calicoctl datastore migrate import -f etcd-data\n  DATASTORE_TYPE=kubernetes KUBECONFIG=~/.kube/config calicoctl datastore migrate unlock"
    )]
    Export,
    /// Store and convert yaml of resources into the Kubernetes datastore.
    #[command(
        after_long_help = "Examples:\n  DATASTORE_TYPE=kubernetes KUBECONFIG=~/.kube/config calicoctl datastore migrate import -f etcd-data"
    )]
    Import {
        /// Filename to use to import resources. If set to "-" loads from stdin.
        #[arg(short = 'f', long = "filename", value_name = "FILENAME")]
        filename: String,
        /// Test hook: stop after N writes, as if the process were killed.
        #[arg(long = "stop-after-steps", hide = true)]
        stop_after_steps: Option<usize>,
    },
    /// Lock the datastore to prevent changes from occurring during datastore migration.
    #[command(after_long_help = "Examples:\n  calicoctl datastore migrate lock")]
    Lock,
    /// Unlock the datastore to allow changes once the migration is completed.
    #[command(
        after_long_help = "Examples:\n  DATASTORE_TYPE=kubernetes KUBECONFIG=~/.kube/config calicoctl datastore migrate unlock"
    )]
    Unlock,
}

#[derive(Debug, Args)]
#[command(subcommand_required = true)]
pub struct ClusterArgs {
    #[command(subcommand)]
    pub command: ClusterCommand,
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Collect snapshot of diagnostic info and logs related to Calico at the cluster-level.
    #[command(
        after_long_help = "Examples:\n  calicoctl cluster diags\n  calicoctl cluster diags --since=1h --max-logs=2 --focus-nodes=worker-1,worker-2"
    )]
    Diags {
        /// Only collect logs newer than provided relative duration, in seconds (s), minutes (m)
        /// or hours (h).
        #[arg(long, value_name = "SINCE")]
        since: Option<String>,
        /// Only collect up to this number of logs, for each kind of Calico component. (An
        /// integer; read by the command, which reports a bad one as calicoctl does.)
        #[arg(
            long = "max-logs",
            value_name = "MAXLOGS",
            default_value = "5",
            allow_hyphen_values = true
        )]
        max_logs: String,
        /// Collect logs first from these nodes (comma-separated).
        #[arg(long = "focus-nodes", value_name = "NODES")]
        focus_nodes: Option<String>,
        /// Maximum number of kubectl commands run in parallel.
        #[arg(
            long = "max-parallelism",
            value_name = "N",
            default_value = "10",
            allow_hyphen_values = true
        )]
        max_parallelism: String,
        /// Don't clean up the temporary directory.
        #[arg(long = "skip-temp-dir-cleanup")]
        skip_temp_dir_cleanup: bool,
    },
}

#[derive(Debug, Args)]
#[command(subcommand_required = true)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// List the contexts of the config file.
    #[command(
        name = "get-contexts",
        after_long_help = "Examples:\n  calicoctl config get-contexts\n  calicoctl --context prod-etcd get ippools"
    )]
    GetContexts,
    /// Print the current context.
    #[command(
        name = "current-context",
        after_long_help = "Examples:\n  calicoctl config current-context"
    )]
    CurrentContext,
    /// Set the current context of the config file.
    #[command(
        name = "use-context",
        after_long_help = "Examples:\n  calicoctl config use-context staging-kdd"
    )]
    UseContext {
        #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::complete::contexts))]
        name: String,
    },
    /// Print the effective configuration (secrets redacted).
    #[command(
        after_long_help = "Examples:\n  calicoctl config view\n  calicoctl --context prod-etcd config view -o json"
    )]
    View {
        #[arg(short = 'o', long = "output", value_enum, default_value = "yaml")]
        output: ViewFormat,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ViewFormat {
    Yaml,
    Json,
}

#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell to generate a completion script for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
#[command(subcommand_required = true)]
pub struct PolicyArgs {
    #[command(subcommand)]
    pub command: PolicyCommand,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Show, per direction, the tiers and policies that select an endpoint (with the labels
    /// that made them match), what happens at the end of each tier, then the profiles.
    #[command(
        after_long_help = "Examples:\n  calicoctl policy explain shop/db\n  calicoctl policy explain --pod shop/db-7c9f -o json\n  calicoctl policy explain hostendpoint/node1-eth0"
    )]
    Explain(PolicyExplainArgs),
    /// Show whether a connection would be allowed: egress at the source, ingress at the
    /// destination, each as the chain of decisions that settled it, and the overall verdict.
    #[command(
        after_long_help = "Examples:\n  calicoctl policy trace --from shop/web --to shop/db --protocol TCP --port 5432\n  calicoctl policy trace --from 192.0.2.10 --to tools/graf --port 3000 --exit-code\n  calicoctl policy trace --from shop/web --to 10.0.0.11 --protocol ICMP --icmp-type 8"
    )]
    Trace(PolicyTraceArgs),
    /// Show the endpoints a selector matches, or the policies whose selector matches a label
    /// set (before applying a policy or labelling a pod).
    #[command(
        name = "who-selects",
        after_long_help = "Examples:\n  calicoctl policy who-selects 'app == \"db\"'\n  calicoctl policy who-selects --labels app=db,tier=backend -n shop"
    )]
    WhoSelects(PolicyWhoSelectsArgs),
}

/// Output of the policy commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PolicyFormat {
    /// Readable tree.
    Text,
    Json,
    Yaml,
}

#[derive(Debug, Args)]
pub struct PolicyExplainArgs {
    /// The endpoint: NAMESPACE/NAME (a WorkloadEndpoint, or the endpoint of a pod), NAME (in
    /// the --namespace), hostendpoint/NAME, or an IP address.
    #[arg(value_name = "ENDPOINT", required_unless_present = "pod")]
    pub endpoint: Option<String>,
    /// The pod NAMESPACE/NAME whose workload endpoint to explain.
    #[arg(long, value_name = "NS/NAME", conflicts_with = "endpoint")]
    pub pod: Option<String>,
    /// Namespace of a workload named without one.
    #[arg(
        short = 'n',
        long = "namespace",
        value_name = "NS",
        default_value = "default"
    )]
    pub namespace: String,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output: PolicyFormat,
}

#[derive(Debug, Args)]
pub struct PolicyTraceArgs {
    /// Source: an endpoint (as for explain) or an IP address / CIDR.
    #[arg(long, value_name = "ENDPOINT|CIDR")]
    pub from: String,
    /// Destination: an endpoint (as for explain) or an IP address / CIDR.
    #[arg(long, value_name = "ENDPOINT|CIDR")]
    pub to: String,
    /// Protocol: TCP, UDP, SCTP, UDPLite, ICMP, ICMPv6 or a number 1-255.
    #[arg(long, value_name = "PROTOCOL", default_value = "TCP")]
    pub protocol: String,
    /// Destination port.
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Source port (only rules with source ports need it).
    #[arg(long = "source-port", value_name = "PORT")]
    pub source_port: Option<u16>,
    /// ICMP type.
    #[arg(long = "icmp-type", value_name = "TYPE")]
    pub icmp_type: Option<u8>,
    /// ICMP code.
    #[arg(long = "icmp-code", value_name = "CODE", requires = "icmp_type")]
    pub icmp_code: Option<u8>,
    /// Exit 0 when the verdict is Allow and 1 when it is Deny (errors exit 2).
    #[arg(long = "exit-code")]
    pub exit_code: bool,
    /// Show every criterion checked, not only the failing ones of rules that did not match.
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Namespace of workloads named without one.
    #[arg(
        short = 'n',
        long = "namespace",
        value_name = "NS",
        default_value = "default"
    )]
    pub namespace: String,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output: PolicyFormat,
}

#[derive(Debug, Args)]
pub struct PolicyWhoSelectsArgs {
    /// A selector (Calico syntax): lists the endpoints it matches.
    #[arg(
        value_name = "SELECTOR",
        required_unless_present = "labels",
        conflicts_with = "labels"
    )]
    pub selector: Option<String>,
    /// A label set k=v,...: lists the policies whose selector matches it.
    #[arg(long, value_name = "K=V,...")]
    pub labels: Option<String>,
    /// With --labels: the namespace of the endpoint (adds projectcalico.org/namespace and
    /// the namespace's inherited labels).
    #[arg(short = 'n', long = "namespace", value_name = "NS")]
    pub namespace: Option<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output: PolicyFormat,
}
