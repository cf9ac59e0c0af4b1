# Whether a TCP connection to host:port opens within the timeout (seconds), for images with
# neither Python nor Node (the datastores): bash's /dev/tcp, bounded by coreutils' timeout. Run
# with `bash -c <this file> probe HOST PORT SECONDS`: prints "open", or "closed" and exits 1.
if timeout "$3" bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2"; then echo open; else echo closed; exit 1; fi
