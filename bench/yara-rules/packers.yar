// Packers, crypters and encoded payloads: what a dropper looks like before it unpacks.
// Written for amber's YARA benchmark (bench/yara.mjs); not taken from any published rule set.
// Rules anchored at offset 0 (uint32(0)) are for files in the rootfs diff; in memory they test
// the first bytes of each scanned region.

rule packer_upx_elf_file : packer linux
{
    meta:
        description = "an ELF file packed with UPX"
        severity = "medium"
    strings:
        $magic = "UPX!" ascii
        $info = "This file is packed with the UPX" ascii
    condition:
        uint32(0) == 0x464c457f and ($magic or $info)
}

rule packer_upx_sections : packer
{
    meta:
        description = "UPX section names"
        severity = "low"
    strings:
        $a = "UPX0" ascii
        $b = "UPX1" ascii
        $c = "UPX2" ascii
    condition:
        2 of them
}

rule packer_upx_stub_header : packer
{
    meta:
        description = "UPX's l_info / p_info header, version and format nibbles"
        severity = "medium"
    strings:
        $h = { 55 50 58 21 ?? ?? 0? ?? [4] ?? ?? 00 00 [8] 55 50 58 21 }
    condition:
        $h
}

rule packer_mpress : packer
{
    meta:
        description = "MPRESS section names"
        severity = "low"
    strings:
        $a = ".MPRESS1" ascii
        $b = ".MPRESS2" ascii
    condition:
        all of them
}

rule packer_shc_script : packer linux
{
    meta:
        description = "a shell script compiled with shc"
        severity = "medium"
    strings:
        $a = "E: neither argv[0] nor $_ works." ascii
        $b = "=%lu %d" ascii
        $c = "%lu %d%c" ascii
        $d = "x%lx" ascii
    condition:
        $a or ($b and $c and $d)
}

rule packer_pyinstaller : packer python
{
    meta:
        description = "a PyInstaller archive cookie"
        severity = "low"
    strings:
        $cookie = { 4D 45 49 0C 0B 0A 0B 0E }
        $name = "pyi-runtime-tmpdir" ascii
    condition:
        $cookie or $name
}

rule packer_ezuri_go : packer linux
{
    meta:
        description = "the Ezuri Go crypter's stub"
        severity = "high"
    strings:
        $a = "ezuri/stub" ascii
        $b = "main.runFromMemory" ascii
        $c = "main.aesDec" ascii
    condition:
        2 of them
}

rule packer_memfd_exec : packer linux
{
    meta:
        description = "fileless execution: memfd_create then exec of /proc/self/fd"
        severity = "high"
    strings:
        $memfd = "memfd_create" ascii
        $fd = /\/proc\/self\/fd\/[0-9]{1,3}/
        $exec = /(fexecve|execve?|os\.execv?e?)\(/
    condition:
        all of them
}

rule packer_base64_elf : packer
{
    meta:
        description = "an ELF header encoded in base64 (a payload carried in a script)"
        severity = "high"
    strings:
        $a = "f0VMRgIBAQ" ascii
        $b = "f0VMRgEBAQ" ascii
    condition:
        any of them
}

rule packer_gzip_base64_blob : packer
{
    meta:
        description = "a long base64 gzip stream (H4sI) in a script or argument"
        severity = "low"
    strings:
        $a = /H4sI[A-Za-z0-9+\/]{300}/
    condition:
        $a
}

rule packer_xor_url : packer
{
    meta:
        description = "an http(s) URL xor-encoded with a one-byte key"
        severity = "medium"
    strings:
        $a = "https://" xor(0x01-0xff)
        $b = "http://" xor(0x01-0xff)
    condition:
        #a + #b >= 2
}

rule packer_base64_shell_command : packer
{
    meta:
        description = "shell commands hidden with base64"
        severity = "medium"
    strings:
        $a = "/bin/bash -c" base64
        $b = "/bin/sh -i" base64
        $c = "curl -fsSL" base64
        $d = "chmod +x /tmp/" base64
    condition:
        any of them
}

rule packer_elf_dropped_in_tmp : packer linux
{
    meta:
        description = "an x86-64 ELF header next to a path in /tmp, /dev/shm or /var/tmp"
        severity = "medium"
    strings:
        $elf = { 7F 45 4C 46 02 01 01 00 00 00 00 00 00 00 00 00 ( 02 | 03 ) 00 3E 00 }
        $tmp = /\/(tmp|dev\/shm|var\/tmp)\/\.[a-z0-9_\-]{1,12}\/[a-z0-9_\-]{2,32}/
    condition:
        $elf and $tmp
}

rule packer_stripped_static_go : packer
{
    meta:
        description = "a Go binary whose build ID survived stripping, with runtime symbols in memory"
        severity = "info"
    strings:
        $id = "\xff Go buildinf:" ascii
        $rt = "runtime.goexit" ascii
    condition:
        $id and $rt
}
