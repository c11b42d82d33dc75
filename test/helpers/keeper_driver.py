"""
Speaking dm-keeper's protocol from a test's driver, as a manager does (src/keeper/README.md):
a message is one SOCK_SEQPACKET packet of NUL-terminated fields, descriptors as SCM_RIGHTS.
Imported by the Python drivers of test/keeper/ (run through keeper-driver.ts).
"""
import array, os, socket, subprocess


def start_keeper(binary, path):
    """A keeper listening on `path`, once it says it is ready."""
    keeper = subprocess.Popen([binary, path], stdout=subprocess.PIPE)
    assert keeper.stdout.readline() == b'ready\n'
    return keeper


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(path)
    s.settimeout(60)
    return s


def send(s, *fields):
    s.send(b'\0'.join(f.encode() for f in fields) + b'\0')


def fields_of(data):
    return [f.decode() for f in data.split(b'\0')[:-1]]


def event(s):
    """The next event's fields (a descriptor it carried is closed by the kernel)."""
    return fields_of(s.recv(1 << 20))


def event_with_fds(s):
    """The next event's fields, and the descriptors it carried (the caller's to close)."""
    fds = array.array('i')
    data, ancdata, _, _ = s.recvmsg(1 << 20, socket.CMSG_SPACE(16 * fds.itemsize))
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
    return fields_of(data), list(fds)


def living(tag):
    """The live (not zombie) processes running `sleep TAG...`."""
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % entry, 'rb') as f:
                command = f.read()
            with open('/proc/%s/stat' % entry) as f:
                state = f.read().rsplit(')', 1)[1].split()[0]
        except OSError:
            continue
        if command.startswith(b'sleep\0' + tag.encode()) and state != 'Z':
            found.append(int(entry))
    return found
