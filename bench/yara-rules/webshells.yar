// Web shells in PHP, JSP, ASP.NET, Python and Node: in a web server's heap they are source text.
// Written for amber's YARA benchmark (bench/yara.mjs); not taken from any published rule set.

rule webshell_php_eval_request : webshell php
{
    meta:
        description = "eval of a request parameter"
        severity = "critical"
    strings:
        $e = /eval\s*\(\s*\$_(POST|GET|REQUEST|COOKIE|SERVER)\s*\[/ nocase
    condition:
        $e
}

rule webshell_php_decode_eval : webshell php
{
    meta:
        description = "eval of decoded or inflated data"
        severity = "high"
    strings:
        $a = "eval(base64_decode(" ascii nocase
        $b = "eval(gzinflate(" ascii nocase
        $c = "eval(str_rot13(" ascii nocase
        $d = "eval(gzuncompress(" ascii nocase
        $e = "assert(base64_decode(" ascii nocase
    condition:
        any of them
}

rule webshell_php_assert_request : webshell php
{
    meta:
        description = "assert on a request parameter (eval by another name)"
        severity = "critical"
    strings:
        $a = /assert\s*\(\s*\$_(POST|GET|REQUEST)/ nocase
    condition:
        $a
}

rule webshell_php_command_from_request : webshell php
{
    meta:
        description = "system, passthru, shell_exec or popen of a request parameter"
        severity = "critical"
    strings:
        $a = /(system|passthru|shell_exec|popen|proc_open|exec)\s*\(\s*\$_(GET|POST|REQUEST)\s*\[\s*['"][a-z0-9_]{1,16}['"]\s*\]/ nocase
    condition:
        $a
}

rule webshell_php_preg_replace_e : webshell php
{
    meta:
        description = "preg_replace with the /e modifier (code execution in old PHP)"
        severity = "high"
    strings:
        $a = /preg_replace\s*\(\s*['"][^'"]{1,60}\/e['"]/ nocase
    condition:
        $a
}

rule webshell_php_uploader : webshell php
{
    meta:
        description = "a bare file uploader: moves an upload where the request says"
        severity = "medium"
    strings:
        $move = "move_uploaded_file(" ascii
        $files = "$_FILES[" ascii
        $dest = /\$_(POST|GET|REQUEST)\[['"](path|dir|dest)['"]\]/ nocase
    condition:
        all of them
}

rule webshell_php_known_kits : webshell php
{
    meta:
        description = "names and banners of well-known PHP shell kits"
        severity = "critical"
    strings:
        $a = "c99shell" ascii nocase
        $b = "r57shell" ascii nocase
        $c = "b374k" ascii nocase
        $d = "WSO 2." ascii
        $e = "FilesMan" ascii
        $f = "Weevely" ascii nocase
    condition:
        any of them
}

rule webshell_php_chr_obfuscation : webshell php
{
    meta:
        description = "code assembled from many chr() calls"
        severity = "medium"
    strings:
        $chr = /chr\([0-9]{2,3}\)\s*\.\s*/ nocase
        $php = "<?php" ascii nocase
    condition:
        $php and #chr >= 20
}

rule webshell_php_hex_escapes : webshell php
{
    meta:
        description = "a long run of \\x escapes in PHP source"
        severity = "low"
    strings:
        $x = /(\\x[0-9a-fA-F]{2}){16}/
        $php = "<?php" ascii nocase
    condition:
        $php and #x >= 2
}

rule webshell_jsp_runtime_exec : webshell jsp
{
    meta:
        description = "JSP that runs a request parameter as a command"
        severity = "critical"
    strings:
        $exec = "Runtime.getRuntime().exec(" ascii
        $param = "request.getParameter(" ascii
        $jsp = "<%" ascii
    condition:
        all of them
}

rule webshell_jsp_processbuilder : webshell jsp
{
    meta:
        description = "JSP that starts a ProcessBuilder from a request parameter"
        severity = "critical"
    strings:
        $pb = "new ProcessBuilder(" ascii
        $param = "getParameter(" ascii
        $stream = "getInputStream()" ascii
    condition:
        all of them
}

rule webshell_jsp_classloader : webshell jsp
{
    meta:
        description = "JSP that defines a class from request bytes (Behinder-style loaders)"
        severity = "critical"
    strings:
        $a = "defineClass(" ascii
        $b = "javax.crypto.Cipher" ascii
        $c = "getReader().readLine()" ascii
    condition:
        all of them
}

rule webshell_aspx_process : webshell aspx
{
    meta:
        description = "ASP.NET page that starts cmd.exe with request input"
        severity = "critical"
    strings:
        $proc = "System.Diagnostics.Process" ascii wide
        $cmd = "cmd.exe" ascii wide nocase
        $req = /Request(\.Form|\.QueryString)?\[\s*"[a-z0-9_]{1,16}"\s*\]/ nocase
    condition:
        all of them
}

rule webshell_chopper_oneliner : webshell
{
    meta:
        description = "one-line eval shells of the China Chopper kind"
        severity = "critical"
    strings:
        $php = /<\?php\s+@?eval\(\$_POST\[['"]?[a-z0-9]{1,16}['"]?\]\);?\s*\?>/ nocase
        $asp = /<%@\s*Page\s+Language\s*=\s*"Jscript"\s*%>\s*<%\s*eval\(Request/ nocase
    condition:
        any of them
}

rule webshell_python_flask_exec : webshell python
{
    meta:
        description = "a Flask route that runs request arguments"
        severity = "high"
    strings:
        $a = /subprocess\.(check_output|Popen|run)\(\s*request\.(args|form|values)/
        $b = /os\.(system|popen)\(\s*request\.(args|form|values)/
    condition:
        any of them
}

rule webshell_node_child_process : webshell node
{
    meta:
        description = "a Node handler that passes a query parameter to child_process"
        severity = "high"
    strings:
        $a = /require\(\s*['"]child_process['"]\s*\)\s*\.\s*(exec|execSync|spawn)\(\s*req\.(query|body|params)/
        $b = /child_process['"]\)\.exec\(req\.query\.[a-z]{1,16}/
    condition:
        any of them
}

rule webshell_perl_cgi : webshell perl
{
    meta:
        description = "a Perl CGI that runs its cmd parameter"
        severity = "high"
    strings:
        $param = /param\(\s*['"]cmd['"]\s*\)/
        $run = /(system|exec|qx|`)\s*\(?\s*\$cmd/
    condition:
        $param and $run
}
