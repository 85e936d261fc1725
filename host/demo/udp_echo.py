# udp_echo.py serve ADDR PORT  -> answers one datagram with its sha256 and length, then exits
# udp_echo.py send ADDR PORT SIZE [SRC] -> sends SIZE bytes, prints the reply ("<len> <sha256>")
import hashlib, socket, sys
mode, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.settimeout(10)
if mode == "serve":
    s.bind((addr, port))
    print("listening", flush=True)
    data, peer = s.recvfrom(65535)
    s.sendto(f"{len(data)} {hashlib.sha256(data).hexdigest()}".encode(), peer)
else:
    size = int(sys.argv[4])
    if len(sys.argv) > 5:
        s.bind((sys.argv[5], 0))
    payload = bytes((i * 7) & 0xFF for i in range(size))
    for attempt in range(5):
        s.sendto(payload, (addr, port))
        try:
            print(s.recv(200).decode(), hashlib.sha256(payload).hexdigest(), flush=True)
            break
        except socket.timeout:
            continue
