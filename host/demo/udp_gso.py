# udp_gso.py recv ADDR PORT COUNT -> prints "listening", receives COUNT datagrams (or gives up
#   after 15 s), prints "<datagrams> <sha256 over each datagram's 4-byte length and bytes, in order>"
# udp_gso.py send ADDR PORT GSO_SIZE SIZE... -> one UDP socket with UDP_SEGMENT = GSO_SIZE (Linux
#   4.18+), one sendto() of SIZE bytes each; prints the same "<datagrams> <sha256>" for the
#   datagrams the kernel (or a GSO-capable device after it) must cut them into.
import hashlib, socket, struct, sys, time
mode, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
h = hashlib.sha256()
n = 0
if mode == "recv":
    count = int(sys.argv[4])
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind((addr, port))
    print("listening", flush=True)
    deadline = time.time() + 15
    while n < count and time.time() < deadline:
        s.settimeout(max(0.01, deadline - time.time()))
        try:
            d = s.recv(65535)
        except socket.timeout:
            break
        h.update(struct.pack("!I", len(d)) + d)
        n += 1
else:
    gso = int(sys.argv[4])
    s.setsockopt(17, 103, gso)  # SOL_UDP, UDP_SEGMENT
    for i, size in enumerate(int(x) for x in sys.argv[5:]):
        b = bytes(((i * 31 + j * 7 + (j >> 8)) & 0xFF) for j in range(size))
        s.sendto(b, (addr, port))
        for o in range(0, size, gso):
            seg = b[o:o + gso]
            h.update(struct.pack("!I", len(seg)) + seg)
            n += 1
print(n, h.hexdigest(), flush=True)
