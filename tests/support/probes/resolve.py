# Whether a name resolves through the container's resolver: `python3 -c <this file> NAME`.
import socket
import sys

print(socket.gethostbyname(sys.argv[1]))
