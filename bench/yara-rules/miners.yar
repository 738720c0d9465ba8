// Cryptocurrency miners: the binaries, their configs and their pool traffic, as they sit in memory.
// Written for amber's YARA benchmark (bench/yara.mjs); not taken from any published rule set.

rule miner_xmrig_banner : miner linux
{
    meta:
        description = "XMRig's user agent, site and tuning flags"
        severity = "high"
    strings:
        $agent = "XMRig/" ascii
        $site = "xmrig.com" ascii nocase
        $donate = "--donate-level" ascii
        $rx = "randomx" ascii nocase
        $huge = "huge-pages-jit" ascii
    condition:
        2 of them
}

rule miner_stratum_url : miner
{
    meta:
        description = "a stratum pool URL with host and port"
        severity = "high"
    strings:
        $url = /stratum\+(tcp|ssl|tls):\/\/[a-z0-9.\-]{3,64}:[0-9]{2,5}/ nocase
    condition:
        $url
}

rule miner_stratum_jsonrpc : miner
{
    meta:
        description = "stratum JSON-RPC login, job and submit messages"
        severity = "high"
    strings:
        $login = "\"method\":\"login\"" ascii
        $submit = "\"method\":\"submit\"" ascii
        $job = "\"method\":\"job\"" ascii
        $keep = "\"method\":\"keepalived\"" ascii
        $rpc = "\"jsonrpc\":\"2.0\"" ascii
    condition:
        $rpc and 1 of ($login, $submit, $job, $keep)
}

rule miner_monero_wallet_in_config : miner
{
    meta:
        description = "a Monero address as a pool user"
        severity = "medium"
    strings:
        $w = /"user"\s*:\s*"4[0-9AB][1-9A-HJ-NP-Za-km-z]{93}"/
    condition:
        $w
}

rule miner_pool_domains : miner
{
    meta:
        description = "public mining pool host names"
        severity = "medium"
    strings:
        $p1 = "supportxmr.com" ascii nocase
        $p2 = "moneroocean.stream" ascii nocase
        $p3 = "nanopool.org" ascii nocase
        $p4 = "hashvault.pro" ascii nocase
        $p5 = "c3pool.com" ascii nocase
        $p6 = "minexmr.com" ascii nocase
        $p7 = "2miners.com" ascii nocase
        $p8 = "herominers.com" ascii nocase
        $p9 = "unmineable.com" ascii nocase
    condition:
        any of them
}

rule miner_xmrig_config_json : miner
{
    meta:
        description = "the shape of an XMRig config.json"
        severity = "high"
    strings:
        $a = "\"max-threads-hint\"" ascii
        $b = "\"donate-level\"" ascii
        $c = "\"pools\"" ascii
        $d = "\"autosave\"" ascii
        $e = "\"keepalive\"" ascii
        $f = "\"randomx\"" ascii
    condition:
        3 of them
}

rule miner_kinsing_family : miner linux
{
    meta:
        description = "names used by the Kinsing campaign's miner and loader"
        severity = "critical"
    strings:
        $a = "kdevtmpfsi" ascii wide
        $b = "kinsing" ascii nocase
        $c = "/tmp/.ICEd-unix" ascii
    condition:
        any of them
}

rule miner_competitor_killer : miner linux
{
    meta:
        description = "a script that kills other miners before starting its own"
        severity = "high"
    strings:
        $k1 = "pkill -f xmrig" ascii
        $k2 = "pkill -9 -f" ascii
        $k3 = "killall -9 kworkerds" ascii
        $k4 = "crontab -r" ascii
        $k5 = "chattr -i /etc/cron" ascii
        $k6 = "ps aux | grep -v grep | grep" ascii
    condition:
        2 of them
}

rule miner_aes_sbox_and_pool : miner
{
    meta:
        description = "the AES S-box (CryptoNight/RandomX use AES rounds) next to pool traffic"
        severity = "low"
    strings:
        $sbox = { 63 7C 77 7B F2 6B 6F C5 30 01 67 2B FE D7 AB 76 }
        $pool = "stratum+" ascii
    condition:
        $sbox and $pool
}

rule miner_randomx_program_loop : miner
{
    meta:
        description = "an x86-64 sequence shaped like a JIT-compiled RandomX loop prologue"
        severity = "medium"
    strings:
        $jit = { 48 8B ?? 24 [2-6] 66 0F 6F ?? ?? 48 8B ?? ?? 0F 18 ?? [0-4] 4C 8B ?? 24 }
    condition:
        $jit
}

rule miner_cpuminer_multi : miner
{
    meta:
        description = "cpuminer-multi and its forks"
        severity = "high"
    strings:
        $a = "cpuminer-multi" ascii nocase
        $b = "cpuminer-opt" ascii nocase
        $c = "--cpu-priority" ascii
        $d = "Stratum connection failed" ascii
    condition:
        any of ($a, $b) or ($c and $d)
}

rule miner_xmr_stak : miner
{
    meta:
        description = "xmr-stak and xmr-stak-rx"
        severity = "high"
    strings:
        $a = "xmr-stak" ascii wide nocase
        $b = "fireice-uk" ascii
    condition:
        any of them
}

rule miner_nicehash : miner
{
    meta:
        description = "NiceHash endpoints"
        severity = "medium"
    strings:
        $a = "nicehash.com" ascii wide nocase
        $b = "nhmp.usa" ascii nocase
    condition:
        any of them
}

rule miner_gpu_miners : miner
{
    meta:
        description = "GPU miners that show up in GPU node pools"
        severity = "medium"
    strings:
        $a = "lolMiner" ascii
        $b = "T-Rex" ascii fullword
        $c = "NBMiner" ascii
        $d = "PhoenixMiner" ascii
        $e = "--algo ethash" ascii
    condition:
        2 of them
}

rule miner_masquerade_kernel_thread : miner linux
{
    meta:
        description = "a user-space miner named like a kernel thread, with a pool argument"
        severity = "high"
    strings:
        $name = /\[?k(worker|swapd|threadd|devtmpfsi)[a-z]{0,3}\]?\x00/
        $arg = /-o\x00?\s?stratum/
    condition:
        $name and $arg
}

rule miner_wallet_eth : miner
{
    meta:
        description = "an Ethereum address passed as a mining user"
        severity = "low"
    strings:
        $w = /-u\s+0x[0-9a-fA-F]{40}/
    condition:
        $w
}

rule miner_tor_proxy_pool : miner
{
    meta:
        description = "a pool reached through a Tor SOCKS proxy"
        severity = "medium"
    strings:
        $onion = /[a-z2-7]{56}\.onion:[0-9]{2,5}/
        $socks = "socks5://127.0.0.1:9050" ascii
    condition:
        $onion or $socks
}
