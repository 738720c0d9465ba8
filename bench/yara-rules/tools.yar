// Offensive tooling, tunnels and generic shellcode that intruders bring into a cluster.
// Written for amber's YARA benchmark (bench/yara.mjs); not taken from any published rule set.

rule tool_linpeas : tool recon
{
    meta:
        description = "linPEAS privilege escalation script"
        severity = "high"
    strings:
        $a = "linpeas" ascii nocase
        $b = "PEASS-ng" ascii
        $c = "Linux Privilege Escalation Awesome Script" ascii nocase
    condition:
        any of them
}

rule tool_pspy : tool recon
{
    meta:
        description = "pspy process snooper"
        severity = "medium"
    strings:
        $a = "pspy - version" ascii
        $b = "DominicBreuker/pspy" ascii
    condition:
        any of them
}

rule tool_chisel_tunnel : tool tunnel
{
    meta:
        description = "chisel TCP/UDP tunnel over HTTP"
        severity = "high"
    strings:
        $a = "jpillora/chisel" ascii
        $b = "chisel-v3" ascii
        $c = /chisel\s+client\s+[^\s]{3,100}\s+R:/
    condition:
        any of them
}

rule tool_frp_tunnel : tool tunnel
{
    meta:
        description = "frp reverse proxy client and its config"
        severity = "high"
    strings:
        $a = "fatedier/frp" ascii
        $b = "server_addr" ascii
        $c = "[common]" ascii
        $d = "remote_port" ascii
    condition:
        $a or ($b and $c and $d)
}

rule tool_ngrok_agent : tool tunnel
{
    meta:
        description = "ngrok agent"
        severity = "medium"
    strings:
        $a = "tunnel.us.ngrok.com" ascii
        $b = "ngrok.com/download" ascii
        $c = "NGROK_AUTHTOKEN" ascii
    condition:
        any of them
}

rule tool_gsocket : tool tunnel
{
    meta:
        description = "Global Socket (gs-netcat) relay shells"
        severity = "critical"
    strings:
        $a = "gs-netcat" ascii
        $b = "GSOCKET_ARGS" ascii
        $c = "gsocket.io" ascii
    condition:
        any of them
}

rule tool_sliver_implant : tool c2
{
    meta:
        description = "Sliver implant protobuf and package names"
        severity = "critical"
    strings:
        $a = "sliverpb" ascii
        $b = "bishopfox/sliver" ascii
        $c = "github.com/bishopfox/sliver/protobuf" ascii
    condition:
        any of them
}

rule tool_c2_beacon_config : tool c2
{
    meta:
        description = "a type-length-value beacon configuration block (setting, type, length) with a sleep field"
        severity = "high"
    strings:
        $cfg = { 00 01 00 01 00 02 ?? ?? 00 02 00 01 00 02 ?? ?? 00 03 00 02 00 04 ?? ?? ?? ?? }
    condition:
        $cfg
}

rule tool_kube_attack : tool kubernetes
{
    meta:
        description = "Kubernetes attack tools"
        severity = "high"
    strings:
        $a = "kube-hunter" ascii
        $b = "peirates" ascii nocase
        $c = "kubeletctl" ascii
        $d = "CDK - Zero Dependency Container Penetration Toolkit" ascii
    condition:
        any of them
}

rule tool_scanners : tool recon
{
    meta:
        description = "network scanners run from inside a pod"
        severity = "medium"
    strings:
        $a = "masscan/" ascii
        $b = "zmap" ascii fullword
        $c = /nmap\s+(-[a-zA-Z]{1,4}\s+){0,6}10\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\/[0-9]{1,2}/
    condition:
        any of them
}

rule tool_mimipenguin : tool credentials
{
    meta:
        description = "mimipenguin, clear-text credentials from process memory"
        severity = "high"
    strings:
        $a = "mimipenguin" ascii nocase
        $b = "gnome-keyring-daemon" ascii
        $c = "/proc/%d/maps" ascii
    condition:
        $a or ($b and $c)
}

rule shellcode_x86_getpc : shellcode
{
    meta:
        description = "x86 get-program-counter stubs followed by a decoder loop"
        severity = "medium"
    strings:
        $call = { E8 00 00 00 00 5? [0-8] 31 C9 [0-8] 80 ?? ?? ?? E2 }
        $fpu = { D9 EE D9 74 24 F4 5? }
    condition:
        any of them
}

rule shellcode_x86_execve_binsh : shellcode
{
    meta:
        description = "32-bit execve(\"/bin//sh\") shellcode"
        severity = "critical"
    strings:
        $a = { 31 C0 50 68 2F 2F 73 68 68 2F 62 69 6E 89 E3 }
        $b = { 6A 0B 58 99 52 68 2F 2F 73 68 68 2F 62 69 6E 89 E3 }
    condition:
        any of them
}

rule shellcode_nop_sled_jump : shellcode
{
    meta:
        description = "a long NOP sled ending in a call or jump"
        severity = "medium"
    strings:
        $a = { 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 90 [0-8] ( E8 | E9 | EB ) }
    condition:
        $a
}

rule shellcode_windows_peb_walk : shellcode windows
{
    meta:
        description = "PEB walk to kernel32 (x86 and x64 forms)"
        severity = "high"
    strings:
        $x86 = { 64 8B ?? 30 8B ?? 0C 8B ?? 14 }
        $x64 = { 65 48 8B ?? 25 60 00 00 00 48 8B ?? 18 48 8B ?? 20 }
        $ror = { C1 CF 0D 01 C7 }
    condition:
        ($x86 or $x64) and $ror
}

rule generic_many_ip_urls : network
{
    meta:
        description = "many URLs with literal IPv4 addresses and ports (a C2 list, a scanner's targets)"
        severity = "low"
    strings:
        $u = /https?:\/\/[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}:[0-9]{2,5}\//
    condition:
        #u >= 5
}

rule generic_base64_shell_path : encoded
{
    meta:
        description = "the base64 forms of /bin/sh and /bin/bash in three alignments"
        severity = "low"
    strings:
        $a = "L2Jpbi9zaC" ascii
        $b = "L2Jpbi9iYXNo" ascii
        $c = "9iaW4vc2" ascii
        $d = "vYmluL2Jhc2" ascii
    condition:
        2 of them
}

rule generic_hidden_exec_path : linux
{
    meta:
        description = "an executable path under a hidden directory in a world-writable place"
        severity = "medium"
    strings:
        $a = /\/(tmp|dev\/shm|var\/tmp|run\/user\/[0-9]{1,5})\/\.[a-zA-Z0-9_\-]{1,12}\/[a-zA-Z0-9_\-]{2,32}\x00/
    condition:
        $a
}

rule generic_ld_preload_env : linux
{
    meta:
        description = "LD_PRELOAD of a library in a world-writable place, as an environment entry"
        severity = "high"
    strings:
        $a = /LD_PRELOAD=\/(tmp|dev\/shm|var\/tmp)\/[^\x00\s]{1,64}\.so/
    condition:
        $a
}

rule generic_sim_probe_canary : test
{
    meta:
        description = "a canary the real fixture archives carry in their environment (SECRET_TOKEN, API_KEY, DB_PASSWORD)"
        severity = "info"
    strings:
        $a = "hunter2-canary" ascii
        $b = "amber-canary-key" ascii
        $c = "amber-ctrd-db" ascii
    condition:
        any of them
}
