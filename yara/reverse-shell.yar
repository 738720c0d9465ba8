// Sample rules shipped with amber (README "YARA rules").

rule amber_reverse_shell_one_liner : reverse_shell
{
  meta:
    description = "A reverse-shell one-liner of the usual cheat sheets: netcat executing a shell, bash's /dev/tcp redirection, socat exec"
    severity = "high"
  strings:
    $nc = /\b(nc|ncat|netcat) [^\n\x00]{0,80}-e \/bin\/(ba|da|a|z)?sh/
    $devtcp = /\/dev\/tcp\/[A-Za-z0-9.\-]{1,253}\/[0-9]{1,5}/
    $socat = /\bsocat [^\n\x00]{0,80}exec:/ nocase
  condition:
    any of them
}
