// What intruders do inside a container: steal credentials, look for the host, hide, persist.
// Written for amber's YARA benchmark (bench/yara.mjs); not taken from any published rule set.

rule cred_k8s_serviceaccount_token_read : credentials kubernetes
{
    meta:
        description = "a command that reads the pod's service account token"
        severity = "high"
    strings:
        $a = /(cat|curl|base64|less|head)\s[^\n]{0,40}\/var\/run\/secrets\/kubernetes\.io\/serviceaccount\/token/
    condition:
        $a
}

rule cred_k8s_token_jwt : credentials kubernetes
{
    meta:
        description = "a Kubernetes service account JWT (RS256 header with a key id)"
        severity = "medium"
    strings:
        $jwt = /eyJhbGciOiJSUzI1NiIsImtpZCI6[A-Za-z0-9_\-]{20,200}\.eyJ[A-Za-z0-9_\-]{40}/
    condition:
        $jwt
}

rule cred_aws_keys : credentials cloud
{
    meta:
        description = "an AWS access key id beside a secret key name"
        severity = "high"
    strings:
        $id = /(AKIA|ASIA)[0-9A-Z]{16}/
        $secret = "aws_secret_access_key" ascii nocase
    condition:
        $id and $secret
}

rule cred_private_keys : credentials
{
    meta:
        description = "PEM private keys"
        severity = "medium"
    strings:
        $a = "-----BEGIN OPENSSH PRIVATE KEY-----" ascii
        $b = "-----BEGIN RSA PRIVATE KEY-----" ascii
        $c = "-----BEGIN EC PRIVATE KEY-----" ascii
    condition:
        any of them
}

rule cred_docker_registry_auth : credentials
{
    meta:
        description = "a Docker config.json with registry credentials"
        severity = "medium"
    strings:
        $a = /"auths"\s*:\s*\{\s*"[^"]{3,100}"\s*:\s*\{\s*"auth"\s*:\s*"[A-Za-z0-9+\/=]{8,}"/
    condition:
        $a
}

rule cred_shadow_dump : credentials linux
{
    meta:
        description = "reading /etc/shadow, or shadow entries with SHA-512 hashes"
        severity = "high"
    strings:
        $cat = /(cat|cp|tar|base64)\s+[^\n]{0,20}\/etc\/shadow/
        $entry = /root:\$6\$[A-Za-z0-9.\/]{8,16}\$[A-Za-z0-9.\/]{86}:/
    condition:
        any of them
}

rule escape_docker_socket : escape
{
    meta:
        description = "talking to the container engine's socket from inside"
        severity = "critical"
    strings:
        $sock = "/var/run/docker.sock" ascii
        $curl = "--unix-socket" ascii
        $create = "/containers/create" ascii
        $priv = "\"Privileged\":true" ascii
    condition:
        $sock and 1 of ($curl, $create, $priv)
}

rule escape_nsenter_host : escape
{
    meta:
        description = "nsenter into pid 1's namespaces (the host's, from a privileged pod)"
        severity = "critical"
    strings:
        $a = /nsenter\s+(-t|--target)\s*1\s+(-m|--mount|-a|--all)/
    condition:
        $a
}

rule escape_cgroup_release_agent : escape
{
    meta:
        description = "the cgroup v1 release_agent escape"
        severity = "critical"
    strings:
        $agent = "release_agent" ascii
        $notify = "notify_on_release" ascii
        $mount = /mount\s+-t\s+cgroup/
    condition:
        $agent and $notify and $mount
}

rule escape_host_proc_root : escape
{
    meta:
        description = "paths into the host through /proc/1/root or a mounted host root"
        severity = "high"
    strings:
        $a = "/proc/1/root/" ascii
        $b = /chroot\s+\/host(fs)?\s/
    condition:
        any of them
}

rule escape_core_pattern : escape
{
    meta:
        description = "writing a pipe handler into core_pattern"
        severity = "critical"
    strings:
        $path = "/proc/sys/kernel/core_pattern" ascii
        $pipe = /echo\s+['"]?\|\//
    condition:
        $path and $pipe
}

rule rootkit_ld_preload : rootkit linux
{
    meta:
        description = "writing /etc/ld.so.preload"
        severity = "high"
    strings:
        $a = /(echo|printf|cat)[^\n]{1,120}>>?\s*\/etc\/ld\.so\.preload/
    condition:
        $a
}

rule rootkit_process_hider : rootkit linux
{
    meta:
        description = "a libprocesshider-style readdir hook"
        severity = "high"
    strings:
        $a = "process_to_filter" ascii
        $b = "get_process_name" ascii
        $c = "readdir64" ascii
    condition:
        all of them
}

rule rootkit_lkm_names : rootkit linux
{
    meta:
        description = "names of public Linux kernel rootkits"
        severity = "critical"
    strings:
        $a = "diamorphine" ascii nocase
        $b = "reptile_module" ascii
        $c = "suterusu" ascii nocase
        $d = "kovid" ascii fullword
    condition:
        any of them
}

rule botnet_irc_bot : botnet
{
    meta:
        description = "an IRC bot's command strings (Tsunami, Kaiten and friends)"
        severity = "high"
    strings:
        $a = "NICK %s" ascii
        $b = "JOIN %s" ascii
        $c = "PRIVMSG %s :" ascii
        $d = "USER %s" ascii
    condition:
        3 of them
}

rule botnet_ddos_commands : botnet
{
    meta:
        description = "flood command names of the Gafgyt and Mirai families"
        severity = "high"
    strings:
        $a = "HTTPFLOOD" ascii
        $b = "UDPRAW" ascii
        $c = "TCPFLOOD" ascii
        $d = "STDHEX" ascii
        $e = "attack_udp_generic" ascii
        $f = "attack_tcp_syn" ascii
    condition:
        2 of them
}

rule botnet_busybox_probe : botnet
{
    meta:
        description = "a bot probing for busybox with a marker word"
        severity = "medium"
    strings:
        $a = /\/bin\/busybox\s+[A-Z]{4,12}/
        $b = "enable\x00system\x00shell\x00sh\x00" ascii
    condition:
        any of them
}

rule recon_cloud_metadata : recon cloud
{
    meta:
        description = "requests to the cloud instance metadata service"
        severity = "medium"
    strings:
        $ip = "169.254.169.254" ascii wide
        $aws = "/latest/meta-data/iam/security-credentials" ascii
        $gcp = "/computeMetadata/v1/" ascii
        $azure = "/metadata/identity/oauth2/token" ascii
    condition:
        $ip and 1 of ($aws, $gcp, $azure)
}

rule recon_kubectl_secrets : recon kubernetes
{
    meta:
        description = "kubectl listing secrets or checking its rights"
        severity = "medium"
    strings:
        $a = /kubectl\s+(get|describe)\s+secrets?\b/
        $b = /kubectl\s+auth\s+can-i\s+--list/
    condition:
        any of them
}

rule persistence_cron_downloader : persistence linux
{
    meta:
        description = "a crontab line that downloads and runs a script"
        severity = "high"
    strings:
        $a = /\*\s+\*\s+\*\s+\*\s+\*\s+[^\n]{0,60}(curl|wget)[^\n]{0,120}\|\s*(ba)?sh/
    condition:
        $a
}

rule downloader_pipe_to_shell : downloader
{
    meta:
        description = "curl or wget piped straight into a shell"
        severity = "high"
    strings:
        $a = /(curl|wget)\s+(-[a-zA-Z]{1,5}\s+){0,4}https?:\/\/[^\s'"|]{4,200}\s*\|\s*(sudo\s+)?(ba)?sh/
    condition:
        $a
}

rule downloader_fetch_to_hidden_dir : downloader
{
    meta:
        description = "a download into a hidden directory, then a run of it"
        severity = "high"
    strings:
        $a = /(curl|wget)\s[^\n]{1,120}-[oO]\s*\/(tmp|dev\/shm|var\/tmp)\/\.[^\s\/]{1,12}\/[^\s]{1,32}\s*(&&|;)\s*(ba)?sh\s/
        $b = /chmod\s+(\+x|[0-7]?7[0-7][0-7])\s+\/(tmp|dev\/shm|var\/tmp)\/\.[^\s\/]{1,12}\//
    condition:
        any of them
}

rule antiforensics_history_and_logs : antiforensics
{
    meta:
        description = "clearing shell history or application logs"
        severity = "medium"
    strings:
        $a = "unset HISTFILE" ascii
        $b = "history -c" ascii
        $c = /rm\s+-[rf]{1,2}\s+\/var\/log\/[^\s]{1,64}/
        $d = "export HISTSIZE=0" ascii
    condition:
        any of them
}

rule ransom_note : ransomware
{
    meta:
        description = "ransom note wording, in ASCII or UTF-16"
        severity = "critical"
    strings:
        $a = "YOUR FILES HAVE BEEN ENCRYPTED" ascii wide nocase
        $b = "decrypt your files" ascii wide nocase
        $c = /[a-z2-7]{56}\.onion/
        $d = "bitcoin" ascii wide nocase
    condition:
        ($a or $b) and ($c or $d)
}
