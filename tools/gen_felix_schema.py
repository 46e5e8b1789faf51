#!/usr/bin/env python3
"""Generates src/model/schema/felixconfiguration.schema from the v3.32.1 CRD (field set and
types) plus the Go declaration order we know from felixconfig.go. Run once, then the .schema file
is owned and edited by hand; kept so the derivation is reproducible."""
import os, re, sys, yaml

# The vendored upstream CRD (crds/README.md), found from the repository root.
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CRD = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    ROOT, "crds/crd.projectcalico.org_v1/crd.projectcalico.org_felixconfigurations.yaml")

# Go declaration order (FelixConfigurationSpec); fields missing here are appended at the end.
ORDER = """useInternalDataplaneDriver dataplaneDriver dataplaneWatchdogTimeout ipv6Support
routeRefreshInterval interfaceRefreshInterval iptablesRefreshInterval iptablesPostWriteCheckInterval
iptablesLockProbeInterval featureDetectOverride featureGates ipsetsRefreshInterval maxIpsetSize
iptablesBackend xdpRefreshInterval netlinkTimeout metadataAddr metadataPort openstackRegion
interfacePrefix interfaceExclude chainInsertMode defaultEndpointToHostAction
iptablesFilterAllowAction iptablesMangleAllowAction iptablesFilterDenyAction logPrefix logFilePath
logSeverityFile logSeverityScreen logSeveritySys logDebugFilenameRegex ipipEnabled ipipMTU
vxlanEnabled vxlanMTU vxlanMTUV6 vxlanPort vxlanVNI allowVXLANPacketsFromWorkloads
allowIPIPPacketsFromWorkloads reportingInterval reportingTTL endpointReportingEnabled
endpointReportingDelay endpointStatusPathPrefix iptablesMarkMask disableConntrackInvalidCheck
healthEnabled healthHost healthPort healthTimeoutOverrides prometheusMetricsEnabled
prometheusMetricsHost prometheusMetricsPort prometheusGoMetricsEnabled
prometheusProcessMetricsEnabled prometheusWireGuardMetricsEnabled prometheusMetricsCertFile
prometheusMetricsKeyFile prometheusMetricsCAFile prometheusMetricsClientAuth
failsafeInboundHostPorts failsafeOutboundHostPorts kubeNodePortRanges policySyncPathPrefix
usageReportingEnabled usageReportingInitialDelay usageReportingInterval natPortRange
natOutgoingAddress natOutgoingExclusions deviceRouteSourceAddress deviceRouteSourceAddressIPv6
deviceRouteProtocol removeExternalRoutes ipForwarding programClusterRoutes externalNodesList
debugMemoryProfilePath debugDisableLogDropping debugSimulateCalcGraphHangAfter
debugSimulateDataplaneHangAfter debugSimulateDataplaneApplyDelay debugHost debugPort
iptablesNATOutgoingInterfaceFilter sidecarAccelerationEnabled xdpEnabled genericXDPEnabled
nftablesMode nftablesRefreshInterval nftablesFilterAllowAction nftablesMangleAllowAction
nftablesFilterDenyAction nftablesMarkMask bpfEnabled bpfDisableUnprivileged bpfLogLevel
bpfConntrackLogLevel bpfLogFilters bpfCTLBLogFilter bpfDataIfacePattern bpfL3IfacePattern
bpfConnectTimeLoadBalancingEnabled bpfConnectTimeLoadBalancing bpfHostNetworkedNATWithoutCTLB
bpfExternalServiceMode bpfDSROptoutCIDRs bpfExtToServiceConnmark
bpfKubeProxyIptablesCleanupEnabled bpfKubeProxyMinSyncPeriod bpfKubeProxyHealthzPort
bpfMapSizeNATFrontend bpfMapSizeNATBackend bpfMapSizeNATAffinity bpfMapSizeRoute
bpfMapSizeConntrack bpfMapSizePerCpuConntrack bpfMapSizeConntrackScaling
bpfMapSizeConntrackCleanupQueue bpfMapSizeIPSets bpfMapSizeIfState bpfHostConntrackBypass
bpfEnforceRPF bpfPolicyDebugEnabled bpfForceTrackPacketsFromIfaces bpfDisableGROForIfaces
bpfExcludeCIDRsFromNAT bpfExportBufferSizeMB bpfRedirectToPeer bpfAttachType bpfPSNATPorts
bpfConntrackMode bpfConntrackTimeouts bpfJITHardening bpfMaglevMaxEndpointsPerService
bpfMaglevMaxServices bpfProfiling routeSource routeTableRanges routeTableRange
routeSyncDisabled serviceLoopPrevention workloadSourceSpoofing mtuIfacePattern floatingIPs
windowsManageFirewallRules wireguardEnabled wireguardEnabledV6 wireguardListeningPort
wireguardListeningPortV6 wireguardRoutingRulePriority wireguardInterfaceName
wireguardInterfaceNameV6 wireguardMTU wireguardMTUV6 wireguardHostEncryptionEnabled
wireguardKeepAlive wireguardThreadingEnabled awsSrcDstCheck cgroupV2Path flowLogsFlushInterval
flowLogsLocalReporter flowLogsGoldmaneServer flowLogsCollectorDebugTrace
flowLogsPolicyEvaluationMode goGCThreshold goMemoryLimitMB goMaxProcs requireMTUFile
liveMigrationRouteConvergenceTime istioAmbientMode istioDSCPMark ipv4NormalRoutePriority
ipv4ElevatedRoutePriority ipv6NormalRoutePriority ipv6ElevatedRoutePriority
logActionRateLimit logActionRateLimitBurst nodeSelector""".split()

# Go field names that do not follow the simple upper-first rule.
GO_NAMES = {
    "ipv6Support": "IPv6Support", "ipsetsRefreshInterval": "IpsetsRefreshInterval",
    "xdpRefreshInterval": "XDPRefreshInterval", "ipipEnabled": "IPIPEnabled", "ipipMTU": "IPIPMTU",
    "vxlanEnabled": "VXLANEnabled", "vxlanMTU": "VXLANMTU", "vxlanMTUV6": "VXLANMTUV6",
    "vxlanPort": "VXLANPort", "vxlanVNI": "VXLANVNI", "reportingTTL": "ReportingTTL",
    "natPortRange": "NATPortRange", "natOutgoingAddress": "NATOutgoingAddress",
    "natOutgoingExclusions": "NATOutgoingExclusions", "deviceRouteSourceAddressIPv6": "DeviceRouteSourceAddressIPv6",
    "externalNodesList": "ExternalNodesCIDRList", "iptablesNATOutgoingInterfaceFilter": "IptablesNATOutgoingInterfaceFilter",
    "xdpEnabled": "XDPEnabled", "genericXDPEnabled": "GenericXDPEnabled", "nftablesMode": "NFTablesMode",
    "bpfCTLBLogFilter": "BPFCTLBLogFilter", "bpfL3IfacePattern": "BPFL3IfacePattern",
    "bpfHostNetworkedNATWithoutCTLB": "BPFHostNetworkedNATWithoutCTLB", "bpfDSROptoutCIDRs": "BPFDSROptoutCIDRs",
    "bpfMapSizeNATFrontend": "BPFMapSizeNATFrontend", "bpfMapSizeNATBackend": "BPFMapSizeNATBackend",
    "bpfMapSizeNATAffinity": "BPFMapSizeNATAffinity", "bpfMapSizeIPSets": "BPFMapSizeIPSets",
    "bpfEnforceRPF": "BPFEnforceRPF", "bpfDisableGROForIfaces": "BPFDisableGROForIfaces",
    "bpfExcludeCIDRsFromNAT": "BPFExcludeCIDRsFromNAT", "bpfExportBufferSizeMB": "BPFExportBufferSizeMB",
    "bpfPSNATPorts": "BPFPSNATPorts", "bpfJITHardening": "BPFJITHardening", "mtuIfacePattern": "MTUIfacePattern",
    "floatingIPs": "FloatingIPs", "wireguardMTU": "WireguardMTU", "wireguardMTUV6": "WireguardMTUV6",
    "awsSrcDstCheck": "AWSSrcDstCheck", "goGCThreshold": "GoGCThreshold", "goMemoryLimitMB": "GoMemoryLimitMB",
    "requireMTUFile": "RequireMTUFile", "istioDSCPMark": "IstioDSCPMark",
    "ipv4NormalRoutePriority": "IPv4NormalRoutePriority", "ipv4ElevatedRoutePriority": "IPv4ElevatedRoutePriority",
    "ipv6NormalRoutePriority": "IPv6NormalRoutePriority", "ipv6ElevatedRoutePriority": "IPv6ElevatedRoutePriority",
    "ipForwarding": "IPForwarding", "allowVXLANPacketsFromWorkloads": "AllowVXLANPacketsFromWorkloads",
    "allowIPIPPacketsFromWorkloads": "AllowIPIPPacketsFromWorkloads", "prometheusMetricsCAFile": "PrometheusMetricsCAFile",
    "prometheusWireGuardMetricsEnabled": "PrometheusWireGuardMetricsEnabled",
    "flowLogsCollectorDebugTrace": "FlowLogsCollectorDebugTrace", "cgroupV2Path": "CgroupV2Path",
}
UINT32 = {"iptablesMarkMask", "nftablesMarkMask"}
PORT = {"natPortRange", "bpfPSNATPorts"}
DURATION_RE = "^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))*$"

def go_name(j):
    if j in GO_NAMES:
        return GO_NAMES[j]
    g = j[0].upper() + j[1:]
    return re.sub(r"^Bpf", "BPF", g)

def is_duration(s):
    p = s.get("pattern", "")
    return p.replace("\\\\", "\\") in ("^([0-9]+(\\.[0-9]+)?(ms|s|m|h))*$", "^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))*$") or p == DURATION_RE

def field_type(j, s):
    t = s.get("type")
    enum = "enum=" + "|".join(map(str, s["enum"])) if s.get("enum") else ""
    if j in PORT:
        return "*numorstring.Port", ""
    if j == "istioDSCPMark":
        return "*numorstring.Protocol", ""
    if t == "boolean":
        return "*bool", ""
    if t == "integer":
        return ("*uint32" if j in UINT32 else "*int"), ""
    if t == "string":
        if is_duration(s) or j in ("dataplaneWatchdogTimeout", "nftablesRefreshInterval"):
            return "*metav1.Duration", ""
        if enum:
            return "*string", enum
        return "string", ""
    if t == "array":
        it = s.get("items", {})
        if j in ("failsafeInboundHostPorts", "failsafeOutboundHostPorts"):
            return "*[]v3.ProtoPort", ""
        if j == "healthTimeoutOverrides":
            return "[]v3.HealthTimeoutOverride", ""
        if j == "routeTableRanges":
            return "*[]v3.RouteTableIDRange", ""
        if j == "kubeNodePortRanges":
            return "*[]numorstring.Port", ""
        return "*[]string", ""
    if t == "object":
        if j == "routeTableRange":
            return "*v3.RouteTableRange", ""
        if j == "bpfLogFilters":
            return "*map[string]string", ""
        if j == "bpfConntrackTimeouts":
            return "*v3.BPFConntrackTimeouts", ""
    raise SystemExit(f"unhandled {j}: {s}")

d = yaml.safe_load(open(CRD))
sp = d["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
names = [n for n in ORDER if n in sp] + sorted(n for n in sp if n not in ORDER)
missing = [n for n in ORDER if n not in sp]
out = ["# FelixConfiguration (v3.32.1). Generated once by tools/gen_felix_schema.py from the CRD's",
       "# field set and types plus the Go declaration order; now maintained by hand.", ""]
out += ["struct v3.FelixConfiguration",
        "  kind        Kind        string                       omitempty",
        "  apiVersion  APIVersion  string                       omitempty",
        "  metadata    ObjectMeta  metav1.ObjectMeta            omitempty embed",
        "  spec        Spec        v3.FelixConfigurationSpec    omitempty",
        "end", "", "struct v3.FelixConfigurationSpec"]
for n in names:
    if n not in ORDER:
        out.append("  # order uncertain")
    t, enum = field_type(n, sp[n])
    out.append(f"  {n:<38} {go_name(n):<38} {t:<28} omitempty {enum}".rstrip())
out.append("end")
out += ["", "struct v3.ProtoPort", "  protocol  Protocol  string", "  port      Port      uint16", "  net       Net       string  omitempty", "end",
        "", "struct v3.HealthTimeoutOverride", "  name     Name     string", "  timeout  Timeout  metav1.Duration", "end",
        "", "struct v3.RouteTableRange", "  min  Min  int", "  max  Max  int", "end",
        "", "struct v3.RouteTableIDRange", "  min  Min  int", "  max  Max  int", "end",
        "", "struct v3.BPFConntrackTimeouts"]
ct = sp["bpfConntrackTimeouts"]["properties"]
for k in ["creationGracePeriod", "tcpSynSent", "tcpEstablished", "tcpFinsSeen", "tcpResetSeen", "udpTimeout", "genericTimeout", "icmpTimeout"]:
    if k in ct:
        out.append(f"  {k:<20} {k[0].upper()+k[1:]:<20} *string  omitempty")
out.append("end")
print("\n".join(out))
if missing:
    print("note: not in CRD:", " ".join(missing), file=sys.stderr)
