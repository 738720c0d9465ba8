// Sample rules shipped with amber (README "YARA rules"); `amber demo` scans with this folder.
// A severity meta of high, medium or info sets the indicator's severity.

rule amber_stratum_pool_url : miner
{
  meta:
    description = "A stratum mining-pool URL: pool miners (XMRig and its forks) are pointed at one with -o or a config file"
    severity = "high"
  strings:
    $url = /stratum\+(tcp|ssl|tls):\/\/[A-Za-z0-9.\-]{1,253}:[0-9]{2,5}/
  condition:
    $url
}

rule amber_xmrig_strings : miner
{
  meta:
    description = "Strings of the XMRig miner: its donation pool and its donate-level option"
    severity = "high"
  strings:
    $donate = "donate.v2.xmrig.com"
    $level = "--donate-level"
  condition:
    any of them
}
