# Connects to addr:port, sends `count` bytes of a deterministic stream, prints "<bytes> <sha256>".
import hashlib, socket, sys
addr, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.create_connection((addr, port), timeout=30)
h = hashlib.sha256()
block = bytearray(1 << 16)
seed = hashlib.sha256(b"weft").digest()
for i in range(0, len(block), 32):
    seed = hashlib.sha256(seed).digest()
    block[i:i + 32] = seed
sent = 0
k = 0
while sent < count:
    n = min(len(block), count - sent)
    chunk = bytes(block[:n]) if k % 2 == 0 else bytes(reversed(block[:n]))
    s.sendall(chunk)
    h.update(chunk)
    sent += n
    k += 1
s.shutdown(socket.SHUT_WR)
s.recv(1)
s.close()
print(sent, h.hexdigest(), flush=True)
