// Reverse shells and bind shells: one-liners in shell history and argv, script interpreters'
// sockets, and the shellcode that does the same.
// Written for amber's YARA benchmark (bench/yara.mjs); not taken from any published rule set.

private rule shell_binary_path
{
    strings:
        $sh = "/bin/sh" ascii
        $bash = "/bin/bash" ascii
        $dash = "/bin/dash" ascii
    condition:
        any of them
}

rule revshell_bash_dev_tcp : revshell linux
{
    meta:
        description = "bash -i redirected to /dev/tcp"
        severity = "critical"
    strings:
        $a = /bash\s+-i\s*(>&|&>)\s*\/dev\/tcp\/[0-9]{1,3}(\.[0-9]{1,3}){3}\/[0-9]{1,5}/
    condition:
        $a
}

rule revshell_dev_tcp_generic : revshell linux
{
    meta:
        description = "any redirection to /dev/tcp or /dev/udp with an address"
        severity = "high"
    strings:
        $a = /\/dev\/(tcp|udp)\/[0-9]{1,3}(\.[0-9]{1,3}){3}\/[0-9]{1,5}/
        $b = /exec\s+[0-9]{1,3}<>\/dev\/tcp\//
    condition:
        any of them
}

rule revshell_netcat_exec : revshell
{
    meta:
        description = "netcat or ncat with -e running a shell"
        severity = "critical"
    strings:
        $a = /\bn(c|cat)(\.traditional|\.openbsd)?\s[^\n]{0,60}-e\s*\/bin\/(ba|da|z)?sh/
        $b = /\bn(c|cat)\s[^\n]{0,60}-c\s*['"]?\/bin\/(ba)?sh/
    condition:
        any of them
}

rule revshell_mkfifo_netcat : revshell
{
    meta:
        description = "the mkfifo / cat / sh / nc loop"
        severity = "critical"
    strings:
        $fifo = /mkfifo\s+\/tmp\/[a-z0-9._]{1,16}/
        $nc = /\|\s*nc\s+[0-9]{1,3}(\.[0-9]{1,3}){3}\s+[0-9]{1,5}/
    condition:
        $fifo and $nc
}

rule revshell_python_socket_pty : revshell python
{
    meta:
        description = "Python connect-back: socket, dup2 of 0/1/2, pty.spawn"
        severity = "critical"
    strings:
        $sock = "socket.socket(" ascii
        $conn = ".connect((" ascii
        $pty = "pty.spawn(" ascii
        $dup = /os\.dup2\(\s*\w{1,8}\.fileno\(\)\s*,\s*[012]\s*\)/
    condition:
        $sock and $conn and ($pty or #dup >= 2)
}

rule revshell_perl_socket : revshell perl
{
    meta:
        description = "Perl connect-back with an interactive shell"
        severity = "critical"
    strings:
        $use = "use Socket;" ascii
        $inet = "inet_aton(" ascii
        $exec = /exec\(\s*"\/bin\/(ba)?sh\s+-i"\s*\)/
    condition:
        all of them
}

rule revshell_php_fsockopen : revshell php
{
    meta:
        description = "PHP fsockopen followed by a shell on the socket"
        severity = "critical"
    strings:
        $a = /fsockopen\([^)]{1,80}\);\s*(exec|shell_exec|system|passthru|proc_open)\(/
        $b = "/bin/sh -i <&3 >&3 2>&3" ascii
    condition:
        any of them
}

rule revshell_socat_exec : revshell
{
    meta:
        description = "socat exec/system of a shell over TCP"
        severity = "critical"
    strings:
        $a = /socat\s[^\n]{0,40}(exec|system):['"]?(\/bin\/)?(ba)?sh[^\n]{0,60}tcp[46]?:/ nocase
        $b = /socat\s[^\n]{0,40}tcp[46]?:[0-9.]{7,15}:[0-9]{1,5}[^\n]{0,40}exec:/ nocase
    condition:
        any of them
}

rule revshell_ruby_tcpsocket : revshell ruby
{
    meta:
        description = "Ruby TCPSocket connect-back"
        severity = "critical"
    strings:
        $a = "TCPSocket.open(" ascii
        $b = "TCPSocket.new(" ascii
        $c = /exec\s+sprintf\(\s*"\/bin\/sh/
        $d = "to_i;exec" ascii
    condition:
        ($a or $b) and ($c or $d)
}

rule revshell_powershell_tcpclient : revshell windows
{
    meta:
        description = "PowerShell TCPClient connect-back (in a Windows container's memory, or a script)"
        severity = "critical"
    strings:
        $client = "System.Net.Sockets.TCPClient" ascii wide nocase
        $stream = "GetStream()" ascii wide nocase
        $iex = "iex" ascii wide nocase fullword
    condition:
        $client and $stream and $iex
}

rule revshell_awk_inet : revshell
{
    meta:
        description = "gawk's /inet/tcp special file used as a shell"
        severity = "high"
    strings:
        $a = /\/inet\/tcp\/0\/[0-9.]{7,15}\/[0-9]{1,5}/
    condition:
        $a
}

rule revshell_telnet_pipe : revshell
{
    meta:
        description = "telnet piped into a shell"
        severity = "high"
    strings:
        $a = /telnet\s+[0-9.]{7,15}\s+[0-9]{1,5}\s*\|\s*\/bin\/(ba)?sh/
    condition:
        $a
}

rule revshell_lua_socket : revshell
{
    meta:
        description = "Lua socket connect-back"
        severity = "high"
    strings:
        $a = "require('socket')" ascii
        $b = "require(\"socket\")" ascii
        $c = "io.popen(" ascii
        $d = ":connect(" ascii
    condition:
        ($a or $b) and $c and $d
}

rule revshell_java_runtime_socket : revshell java
{
    meta:
        description = "Java connect-back that pipes a process over a Socket"
        severity = "high"
    strings:
        $sock = "new Socket(" ascii
        $exec = "Runtime.getRuntime().exec(" ascii
        $pipe = "getOutputStream()" ascii
    condition:
        all of them and shell_binary_path
}

rule revshell_shellcode_x64_execve_binsh : revshell shellcode
{
    meta:
        description = "x86-64 shellcode that pushes /bin//sh or /bin/sh and calls execve"
        severity = "critical"
    strings:
        $a = { 48 31 ?? 48 BB 2F 62 69 6E 2F 2F 73 68 }
        $b = { 6A 3B 58 99 48 BB 2F 62 69 6E 2F 73 68 00 }
        $c = { 48 B8 2F 62 69 6E 2F 2F 73 68 50 [0-8] B0 3B 0F 05 }
    condition:
        any of them
}

rule revshell_shellcode_x64_connect : revshell shellcode
{
    meta:
        description = "x86-64 socket(AF_INET, SOCK_STREAM) then connect, then dup2 in a loop"
        severity = "critical"
    strings:
        $socket = { 6A 29 58 99 6A 02 5F 6A 01 5E 0F 05 }
        $connect = { 48 B9 02 00 ?? ?? ?? ?? ?? ?? 51 48 89 E6 6A 10 5A 6A 2A 58 0F 05 }
        $dup2 = { 6A 03 5E 48 FF CE 6A 21 58 0F 05 75 F6 }
    condition:
        2 of them
}

rule revshell_sockaddr_port_4444 : revshell
{
    meta:
        description = "a sockaddr_in for port 4444 (the default of many frameworks) beside a shell path"
        severity = "low"
    strings:
        $sa = { 02 00 11 5C [4] 00 00 00 00 00 00 00 00 }
    condition:
        $sa and shell_binary_path
}

rule revshell_meterpreter : revshell framework
{
    meta:
        description = "Meterpreter and mettle strings"
        severity = "critical"
    strings:
        $a = "meterpreter" ascii wide nocase
        $b = "mettle_" ascii
        $c = "stdapi_sys_process_execute" ascii wide
        $d = "core_channel_open" ascii wide
    condition:
        any of them
}
