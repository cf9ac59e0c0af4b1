# Whether a TCP connection to host:port opens within the timeout (seconds), run with
# `python3 -c <this file> HOST PORT SECONDS` inside an app container: prints "open", or
# "closed <reason>" and exits 1.
import socket
import sys

try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])).close()
    print("open")
except Exception as e:
    print("closed", type(e).__name__, e)
    sys.exit(1)
