package consensus

import (
	"context"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/quic-go/quic-go"
)

// ALPN protocol names. A connection carries exactly one of them, chosen by
// the dialer; the listener offers both and routes each accepted connection's
// streams by the negotiated one. Any other protocol is refused.
const (
	// ALPNRaft carries hashicorp/raft's NetworkTransport RPCs, one raft
	// connection per QUIC stream.
	ALPNRaft = "raaft-raft/1"
	// ALPNRPC carries raaft's own node-to-node requests (leader forwarding,
	// joins), one request per QUIC stream.
	ALPNRPC = "raaft-rpc/1"
)

// QUIC settings, passed explicitly rather than trusting quic-go's defaults.
const (
	// quicHandshakeIdleTimeout aborts a handshake when the peer is silent
	// this long (and quic-go aborts any handshake after twice this).
	quicHandshakeIdleTimeout = 5 * time.Second
	// quicMaxIdleTimeout closes a connection with no traffic for this long;
	// the smaller of the two peers' values applies.
	quicMaxIdleTimeout = 30 * time.Second
	// quicKeepAlivePeriod keeps idle connections open (quic-go's default is
	// no keep-alive), so a follower's connection survives quiet periods and
	// a dead peer is noticed within quicMaxIdleTimeout.
	quicKeepAlivePeriod = 5 * time.Second
	// quicIncomingStreamsMax bounds the concurrent streams a peer may open
	// on a connection it dialed to us. Raft keeps few (MaxPool plus one per
	// snapshot), so reaching it means streams are leaking.
	quicIncomingStreamsMax = 256
)

// Bounds of the layer's own queues and waits.
const (
	// raftAcceptQueueStreamsMax and rpcAcceptQueueStreamsMax bound the
	// accepted streams waiting for Accept and AcceptRPC. When a queue is
	// full the stream is refused (cancelled) so a slow consumer never stalls
	// a connection's accept loop.
	raftAcceptQueueStreamsMax = 64
	rpcAcceptQueueStreamsMax  = 64
	// acceptedConnsMax bounds the connections peers have open to us (about
	// two per peer and protocol in steady state); more are refused.
	acceptedConnsMax = 512
	// dialTimeoutDefault bounds Dial when raft passes no timeout.
	dialTimeoutDefault = 10 * time.Second
	// dialHandshakeTimeoutMax bounds one shared dial, whoever waits for it.
	dialHandshakeTimeoutMax = 2 * quicHandshakeIdleTimeout
	// streamOpenAttemptsMax is how often openStream tries: the cached
	// connection, then once more on a fresh dial if that one had died.
	streamOpenAttemptsMax = 2
	// closeStreamsWaitMax bounds how long Close waits for the streams
	// Accept and AcceptRPC handed out to be closed by their handlers. Their
	// connections are closed by then, so handlers fail fast; the wait
	// matters because raft's heartbeat fast path writes the stable store
	// from the transport's handler goroutine, which Raft.Shutdown does not
	// wait for: once NetworkTransport.Close returns, no handler still runs
	// and the store can be closed.
	closeStreamsWaitMax = 5 * time.Second
)

// QUIC application error codes sent to peers.
const (
	connCodeClosing  quic.ApplicationErrorCode = 0 // orderly close
	connCodeRefused  quic.ApplicationErrorCode = 1 // protocol or limit refusal
	streamCodeClosed quic.StreamErrorCode      = 0 // we are done with the stream
	streamCodeBusy   quic.StreamErrorCode      = 1 // accept queue full
)

// Node certificate validity. Peers are pinned by public key, so validity
// dates are not checked; they are fixed (RFC 5280 §4.1.2.5's "no well-defined
// expiration" for NotAfter) so the certificate depends only on key and id.
var (
	nodeCertNotBefore = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	nodeCertNotAfter  = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
)

// statelessResetInfo is the HKDF label deriving the QUIC stateless reset key
// from the node key (see statelessResetKey).
const statelessResetInfo = "raaft quic stateless reset key v1"

var (
	// ErrLayerClosed is returned by every QUICLayer method after Close.
	ErrLayerClosed = errors.New("consensus: QUIC layer closed")
	// ErrPeerNotAuthorized is returned (wrapped with the Authorize error)
	// when a peer's key is refused; the handshake is aborted.
	ErrPeerNotAuthorized = errors.New("consensus: peer not authorized")
	// ErrBadPeerCertificate is returned when a peer presents no certificate
	// or one whose key is not Ed25519.
	ErrBadPeerCertificate = errors.New("consensus: bad peer certificate")
	// ErrUnknownALPN is returned when a connection negotiated a protocol
	// other than the one asked for, or none of ALPNRaft and ALPNRPC.
	ErrUnknownALPN = errors.New("consensus: unknown application protocol")
)

// QUICConfig configures NewQUICLayer.
type QUICConfig struct {
	// BindAddr is the UDP address to listen on and dial from, host:port
	// ("127.0.0.1:0" picks a free port).
	BindAddr string
	// AdvertiseAddr is the host:port peers dial, returned by Addr (raft
	// stores it in its configuration). Empty means the bound address, which
	// then must not be unspecified (0.0.0.0 or ::).
	AdvertiseAddr string
	// Certificate is the node's TLS certificate with its Ed25519 private
	// key, as made by NewNodeCertificate; its key must be registered in
	// the ledger for peers to accept it.
	Certificate tls.Certificate
	// Authorize maps a peer's public key to its node id, or returns an error
	// to refuse the handshake. It is consulted for every peer certificate,
	// as client and as server, from quic-go's goroutines, possibly
	// concurrently; it must be fast (no network) and safe for concurrent use.
	Authorize func(pub ed25519.PublicKey) (nodeID string, err error)
	// RegisteredAt, if set, names the node registered at a dialled address
	// (ok false if none is). A dial to an address with a registered node
	// is refused unless the peer's key is that node's: registration alone
	// would let one registered node answer for another's address (a
	// hijacked DNS name or a stale address). Called on quic-go's
	// goroutines; it must be fast and safe for concurrent use.
	RegisteredAt func(addr string) (nodeID string, ok bool)
	// Logger receives the layer's logs; nil discards them.
	Logger *slog.Logger
	// PacketFilter, if set, drops datagrams to or from peers for which it
	// returns false: fault injection for partition tests. Nil in production.
	PacketFilter func(peer net.Addr) bool
}

// Validate reports the first invalid field, naming it.
func (c QUICConfig) Validate() error {
	if _, _, err := net.SplitHostPort(c.BindAddr); err != nil {
		return fmt.Errorf("QUICConfig.BindAddr %q: want host:port such as 127.0.0.1:0: %w", c.BindAddr, err)
	}
	if c.AdvertiseAddr != "" {
		if err := checkAdvertisable(c.AdvertiseAddr); err != nil {
			return fmt.Errorf("QUICConfig.AdvertiseAddr: %w", err)
		}
	}
	if c.Authorize == nil {
		return errors.New("QUICConfig.Authorize is nil: every peer key must be checked")
	}
	if _, err := certificateKey(c.Certificate); err != nil {
		return fmt.Errorf("QUICConfig.Certificate: %w", err)
	}
	return nil
}

// checkAdvertisable accepts host:port with a port in 1..65535 and a host
// that is not empty or an unspecified IP: peers must be able to dial it.
func checkAdvertisable(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: want host:port: %w", addr, err)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return fmt.Errorf("%q: port must be 1..65535", addr)
	}
	if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.IsUnspecified()) {
		return fmt.Errorf("%q: peers cannot dial an empty or unspecified host; set AdvertiseAddr", addr)
	}
	return nil
}

// certificateKey returns the Ed25519 private key of cert after checking it
// matches the leaf's public key.
func certificateKey(cert tls.Certificate) (ed25519.PrivateKey, error) {
	if len(cert.Certificate) == 0 {
		return nil, errors.New("no certificate")
	}
	priv, ok := cert.PrivateKey.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("private key is %T, want ed25519.PrivateKey", cert.PrivateKey)
	}
	pub, err := PublicKeyOfCert(cert.Certificate[0])
	if err != nil {
		return nil, err
	}
	if !pub.Equal(priv.Public()) {
		return nil, errors.New("certificate does not match its private key")
	}
	return priv, nil
}

// NewNodeCertificate makes the node's self-signed TLS certificate: subject
// and DNS SAN nodeID, key priv. Peers pin the key, not a CA, so the
// certificate carries no trust of its own. It is deterministic (fixed
// validity, serial from the key), so it can be rebuilt at every start from
// the key file alone.
func NewNodeCertificate(priv ed25519.PrivateKey, nodeID string) (tls.Certificate, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return tls.Certificate{}, fmt.Errorf("node certificate: private key is %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	if err := checkNodeID(nodeID); err != nil {
		return tls.Certificate{}, fmt.Errorf("node certificate: %w", err)
	}
	pub := priv.Public().(ed25519.PublicKey)
	sum := sha256.Sum256(pub)
	tmpl := &x509.Certificate{
		SerialNumber:          new(big.Int).SetBytes(sum[:16]),
		Subject:               pkix.Name{CommonName: nodeID},
		DNSNames:              []string{nodeID},
		NotBefore:             nodeCertNotBefore,
		NotAfter:              nodeCertNotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("node certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("node certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv, Leaf: leaf}, nil
}

// nodeIDBytesMax is the longest node id: a DNS name's limit, as the id is
// the certificate's DNS SAN.
const nodeIDBytesMax = 253

// checkNodeID accepts ids usable as a DNS SAN: letters, digits, '-' and '.'.
func checkNodeID(id string) error {
	if id == "" || len(id) > nodeIDBytesMax {
		return fmt.Errorf("node id %q: want 1..%d bytes", id, nodeIDBytesMax)
	}
	for _, r := range id {
		ok := r == '-' || r == '.' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if !ok {
			return fmt.Errorf("node id %q: only letters, digits, '-' and '.' allowed", id)
		}
	}
	return nil
}

// PublicKeyOfCert returns the Ed25519 public key of a DER certificate, or
// an error wrapping ErrBadPeerCertificate for any other key type.
func PublicKeyOfCert(der []byte) (ed25519.PublicKey, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadPeerCertificate, err)
	}
	pub, ok := cert.PublicKey.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: key is %T, want Ed25519", ErrBadPeerCertificate, cert.PublicKey)
	}
	return pub, nil
}

// statelessResetKey derives the QUIC stateless reset key from the node key
// (HKDF-SHA256, own label). It is the same after a restart, so a restarted
// node can reset connections its previous run held and peers redial at
// once instead of waiting quicMaxIdleTimeout; and it needs no file.
func statelessResetKey(priv ed25519.PrivateKey) (quic.StatelessResetKey, error) {
	var key quic.StatelessResetKey
	b, err := hkdf.Key(sha256.New, priv.Seed(), nil, statelessResetInfo, len(key))
	copy(key[:], b)
	return key, err
}

// PeerInfo identifies the authorized peer at the other end of a connection.
type PeerInfo struct {
	NodeID    string            // what Authorize returned for the key
	PublicKey ed25519.PublicKey // the key of the peer's certificate
	Addr      net.Addr          // the peer's UDP address
}

// QUICLayer is raft's StreamLayer over QUIC, plus a second channel (ALPNRPC)
// for raaft's own node-to-node requests. One UDP socket serves listening
// and dialing. Peers authenticate with mutual TLS 1.3 and are accepted only
// if Authorize knows their Ed25519 key (pinned keys; there is no CA).
//
// Dialing keeps one QUIC connection per (peer address, ALPN), redialed when
// it dies; every raft connection or RPC is one bidirectional stream on it.
// Peers open their own connections to us for their requests.
//
// raft.NetworkTransport.Close calls Close (a StreamLayer is a net.Listener),
// which also ends the RPC channel. All methods are safe for concurrent use.
type QUICLayer struct {
	cfg  QUICConfig
	log  *slog.Logger
	addr net.Addr // advertised

	udp *net.UDPConn
	tr  *quic.Transport
	ln  *quic.Listener

	raftQ chan inbound
	rpcQ  chan inbound

	// ctx is cancelled by Close; every goroutine and wait watches it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // accept loop, per-connection loops, dials

	mu            sync.Mutex
	closed        bool
	conns         map[connKey]*dialEntry // dialed connections
	acceptedConns int                    // connections in serveConn
	openStreams   int                    // accepted streams not yet closed
	streamsDone   chan struct{}          // closed when openStreams drops to 0 during Close

	closeOnce sync.Once
	closeErr  error
}

var _ raft.StreamLayer = (*QUICLayer)(nil)

// inbound is an accepted stream waiting in an accept queue.
type inbound struct {
	conn *streamConn
	peer PeerInfo
}

type connKey struct{ addr, alpn string }

// dialEntry is one dial, shared by every caller asking for its key while it
// runs. conn and err are set before done is closed.
type dialEntry struct {
	done chan struct{}
	conn *quic.Conn
	err  error
}

// NewQUICLayer binds cfg.BindAddr and starts accepting connections.
func NewQUICLayer(cfg QUICConfig) (*QUICLayer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	priv, _ := certificateKey(cfg.Certificate)
	resetKey, err := statelessResetKey(priv)
	if err != nil {
		return nil, err
	}
	bind, err := net.ResolveUDPAddr("udp", cfg.BindAddr)
	if err != nil {
		return nil, fmt.Errorf("QUICConfig.BindAddr %q: %w", cfg.BindAddr, err)
	}
	udp, err := net.ListenUDP("udp", bind)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.BindAddr, err)
	}
	var addr net.Addr = udp.LocalAddr()
	if cfg.AdvertiseAddr != "" {
		addr = advertiseAddr(cfg.AdvertiseAddr)
	} else if err := checkAdvertisable(addr.String()); err != nil {
		_ = udp.Close()
		return nil, fmt.Errorf("QUICConfig.BindAddr: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &QUICLayer{
		cfg: cfg, log: log.With("component", "quic"), addr: addr, udp: udp,
		raftQ: make(chan inbound, raftAcceptQueueStreamsMax),
		rpcQ:  make(chan inbound, rpcAcceptQueueStreamsMax),
		conns: make(map[connKey]*dialEntry),
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	var pc net.PacketConn = udp
	if cfg.PacketFilter != nil {
		pc = &filteredConn{PacketConn: udp, allow: cfg.PacketFilter}
	}
	l.tr = &quic.Transport{Conn: pc, StatelessResetKey: &resetKey, ConnContext: l.connContext}
	l.ln, err = l.tr.Listen(l.serverTLS(), quicConfig(quicIncomingStreamsMax))
	if err != nil {
		l.cancel()
		_ = l.tr.Close()
		_ = udp.Close()
		return nil, fmt.Errorf("listen %s: %w", cfg.BindAddr, err)
	}
	l.wg.Add(1)
	go l.acceptConns()
	return l, nil
}

// advertiseAddr is AdvertiseAddr as a net.Addr, unresolved: it may be a
// name that only peers resolve.
type advertiseAddr string

func (a advertiseAddr) Network() string { return "udp" }
func (a advertiseAddr) String() string  { return string(a) }

// quicConfig is the QUIC configuration of both sides. Connections we dial
// get incomingStreams -1: the peer opens its own connection for its own
// requests, so it may open no streams on ours.
func quicConfig(incomingStreams int64) *quic.Config {
	return &quic.Config{
		HandshakeIdleTimeout:  quicHandshakeIdleTimeout,
		MaxIdleTimeout:        quicMaxIdleTimeout,
		KeepAlivePeriod:       quicKeepAlivePeriod,
		MaxIncomingStreams:    incomingStreams,
		MaxIncomingUniStreams: -1,    // raaft uses no unidirectional streams
		Allow0RTT:             false, // 0-RTT data is replayable
	}
}

// Addr returns the address peers dial (AdvertiseAddr, else the bound one).
func (l *QUICLayer) Addr() net.Addr { return l.addr }

// Accept waits for the next raft stream (net.Listener, for
// raft.NetworkTransport). After Close it returns ErrLayerClosed.
func (l *QUICLayer) Accept() (net.Conn, error) {
	if l.ctx.Err() != nil {
		return nil, ErrLayerClosed
	}
	select {
	case in := <-l.raftQ:
		return in.conn, nil
	case <-l.ctx.Done():
		return nil, ErrLayerClosed
	}
}

// AcceptRPC waits for the next RPC stream and the authorized peer that
// opened it. It returns ctx's error when ctx ends first, ErrLayerClosed
// after Close.
func (l *QUICLayer) AcceptRPC(ctx context.Context) (net.Conn, PeerInfo, error) {
	if l.ctx.Err() != nil {
		return nil, PeerInfo{}, ErrLayerClosed
	}
	select {
	case in := <-l.rpcQ:
		return in.conn, in.peer, nil
	case <-ctx.Done():
		return nil, PeerInfo{}, ctx.Err()
	case <-l.ctx.Done():
		return nil, PeerInfo{}, ErrLayerClosed
	}
}

// Dial opens a raft stream to address within timeout (StreamLayer). Raft
// writes first on a new connection, which matters: a QUIC stream reaches the
// peer's AcceptStream only when data is sent on it.
func (l *QUICLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if timeout <= 0 {
		timeout = dialTimeoutDefault
	}
	ctx, cancel := context.WithTimeout(l.ctx, timeout)
	defer cancel()
	return l.openStream(ctx, string(address), ALPNRaft)
}

// DialRPC opens an RPC stream to addr. The caller must write first (a QUIC
// stream reaches the peer only when data is sent on it) and Close the
// stream when done; Close ends both directions.
func (l *QUICLayer) DialRPC(ctx context.Context, addr string) (net.Conn, error) {
	return l.openStream(ctx, addr, ALPNRPC)
}

// openStream opens a stream on the cached connection for (addr, alpn),
// dialing one if there is none or it died.
func (l *QUICLayer) openStream(ctx context.Context, addr, alpn string) (net.Conn, error) {
	key := connKey{addr: addr, alpn: alpn}
	for attempt := 1; ; attempt++ {
		conn, err := l.cachedConn(ctx, key)
		if err != nil {
			return nil, err
		}
		s, err := conn.OpenStreamSync(ctx)
		if err == nil {
			return newStreamConn(s, conn), nil
		}
		if ctx.Err() != nil || l.ctx.Err() != nil || attempt == streamOpenAttemptsMax {
			return nil, fmt.Errorf("open %s stream to %s: %w", alpn, addr, err)
		}
		l.forget(key, conn) // it died under us: redial once
	}
}

// cachedConn returns the live connection for key, starting or joining a
// dial when needed. Concurrent callers share one dial.
func (l *QUICLayer) cachedConn(ctx context.Context, key connKey) (*quic.Conn, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, ErrLayerClosed
	}
	e := l.conns[key]
	if e != nil && e.failed() {
		e = nil
	}
	if e == nil {
		e = &dialEntry{done: make(chan struct{})}
		l.conns[key] = e
		l.wg.Add(1)
		go l.dial(key, e)
	}
	l.mu.Unlock()
	select {
	case <-e.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if e.err != nil {
		return nil, e.err
	}
	return e.conn, nil
}

// failed reports whether a finished dial failed or its connection died.
func (e *dialEntry) failed() bool {
	select {
	case <-e.done:
		return e.err != nil || e.conn.Context().Err() != nil
	default:
		return false // still dialing
	}
}

// forget drops conn from the cache if it is still the entry for key.
func (l *QUICLayer) forget(key connKey, conn *quic.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.conns[key]; e != nil && e.conn == conn {
		delete(l.conns, key)
	}
}

// dial runs one shared dial for key and publishes its result in e.
func (l *QUICLayer) dial(key connKey, e *dialEntry) {
	defer l.wg.Done()
	ctx, cancel := context.WithTimeout(l.ctx, dialHandshakeTimeoutMax)
	defer cancel()
	conn, err := l.handshake(ctx, key)
	if err != nil {
		l.log.Debug("dial failed", "addr", key.addr, "alpn", key.alpn, "err", err)
	}
	l.mu.Lock()
	closed := l.closed
	if closed && conn != nil {
		err = ErrLayerClosed
	} else {
		e.conn = conn
	}
	e.err = err
	close(e.done)
	l.mu.Unlock()
	if closed && conn != nil {
		_ = conn.CloseWithError(connCodeClosing, "node shutting down")
	}
}

// handshake dials key.addr with key.alpn and checks the server's key. The
// verification error, if any, is returned wrapped so callers can test it
// with errors.Is (quic-go reports only a TLS alert).
func (l *QUICLayer) handshake(ctx context.Context, key connKey) (*quic.Conn, error) {
	raddr, err := l.resolveUDP(ctx, key.addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", key.addr, err)
	}
	var mu sync.Mutex
	var verifyErr error
	conf := l.clientTLS(key.alpn, func(cs tls.ConnectionState) error {
		peer, err := l.verifyPeer(cs, key.alpn)
		if err == nil && l.cfg.RegisteredAt != nil {
			if want, ok := l.cfg.RegisteredAt(key.addr); ok && want != peer.NodeID {
				err = fmt.Errorf("%w: %s answered as node %s; the node registered there is %s", ErrPeerNotAuthorized, key.addr, peer.NodeID, want)
			}
		}
		mu.Lock()
		verifyErr = err
		mu.Unlock()
		return err
	})
	conn, err := l.tr.Dial(ctx, raddr, conf, quicConfig(-1))
	if err != nil {
		mu.Lock()
		defer mu.Unlock()
		if verifyErr != nil {
			err = verifyErr
		}
		return nil, fmt.Errorf("dial %s (%s): %w", key.addr, key.alpn, err)
	}
	return conn, nil
}

// resolveUDP resolves host:port, honouring ctx for name lookups. A name
// resolves to its first address the socket can reach: an IPv4 socket
// cannot send to "localhost" as ::1.
func (l *QUICLayer) resolveUDP(ctx context.Context, addr string) (*net.UDPAddr, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := net.DefaultResolver.LookupPort(ctx, "udp", portStr)
	if err != nil {
		return nil, err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		ips, lerr := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if lerr != nil {
			return nil, lerr
		}
		var ok bool
		if ip, ok = l.reachableIP(ips); !ok {
			return nil, fmt.Errorf("no usable address for %s in %v", host, ips)
		}
	}
	return net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip.Unmap(), uint16(port))), nil
}

// reachableIP picks the first of ips the UDP socket can send to: only IPv4
// from an IPv4 socket, any from an IPv6 (dual-stack) one.
func (l *QUICLayer) reachableIP(ips []netip.Addr) (netip.Addr, bool) {
	local := l.udp.LocalAddr().(*net.UDPAddr).AddrPort().Addr()
	for _, ip := range ips {
		if !local.Unmap().Is4() || ip.Unmap().Is4() {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

// clientTLS is the dialer's TLS configuration. InsecureSkipVerify only turns
// off CA chain and host name checks, which mean nothing for self-signed
// node certificates; verify (always set) checks the pinned key instead.
// Session resumption is off so every connection proves its key afresh.
func (l *QUICLayer) clientTLS(alpn string, verify func(tls.ConnectionState) error) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		MaxVersion:         tls.VersionTLS13,
		Certificates:       []tls.Certificate{l.cfg.Certificate},
		NextProtos:         []string{alpn},
		InsecureSkipVerify: true,
		VerifyConnection:   verify,
	}
}

// serverTLS is the listener's TLS configuration. Its GetConfigForClient
// gives each handshake its own VerifyConnection, which records the
// authorized peer in the connection's peerSlot (see connContext) so that
// Authorize runs once per handshake and the result reaches acceptConns.
func (l *QUICLayer) serverTLS() *tls.Config {
	base := l.serverTLSFor(nil)
	base.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		slot, ok := hello.Context().Value(peerSlotKey{}).(*peerSlot)
		if !ok {
			return nil, errors.New("consensus: handshake without a peer slot")
		}
		return l.serverTLSFor(slot), nil
	}
	return base
}

// serverTLSFor builds a server configuration whose verifier stores the
// authorized peer in slot (if not nil).
func (l *QUICLayer) serverTLSFor(slot *peerSlot) *tls.Config {
	return &tls.Config{
		MinVersion:             tls.VersionTLS13,
		MaxVersion:             tls.VersionTLS13,
		Certificates:           []tls.Certificate{l.cfg.Certificate},
		ClientAuth:             tls.RequireAnyClientCert, // self-signed: no CA; VerifyConnection pins the key
		NextProtos:             []string{ALPNRaft, ALPNRPC},
		SessionTicketsDisabled: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			peer, err := l.verifyPeer(cs, "")
			if err == nil && slot != nil {
				slot.set(peer)
			}
			return err
		},
	}
}

// verifyPeer is the one check every handshake passes, on both sides: TLS
// 1.3, a known ALPN (wantALPN, if set), an Ed25519 leaf key, and Authorize.
func (l *QUICLayer) verifyPeer(cs tls.ConnectionState, wantALPN string) (PeerInfo, error) {
	if cs.Version != tls.VersionTLS13 {
		return PeerInfo{}, fmt.Errorf("consensus: TLS version %#x, want 1.3", cs.Version)
	}
	if alpn := cs.NegotiatedProtocol; l.queueFor(alpn) == nil || (wantALPN != "" && alpn != wantALPN) {
		return PeerInfo{}, fmt.Errorf("%w: %q", ErrUnknownALPN, alpn)
	}
	if len(cs.PeerCertificates) == 0 {
		return PeerInfo{}, fmt.Errorf("%w: none presented", ErrBadPeerCertificate)
	}
	pub, ok := cs.PeerCertificates[0].PublicKey.(ed25519.PublicKey)
	if !ok {
		return PeerInfo{}, fmt.Errorf("%w: key is %T, want Ed25519", ErrBadPeerCertificate, cs.PeerCertificates[0].PublicKey)
	}
	id, err := l.cfg.Authorize(pub)
	if err != nil {
		l.log.Warn("peer refused", "key", fmt.Sprintf("%x", []byte(pub)), "err", err)
		return PeerInfo{}, fmt.Errorf("%w: %w", ErrPeerNotAuthorized, err)
	}
	return PeerInfo{NodeID: id, PublicKey: pub}, nil
}

// queueFor maps a negotiated ALPN to its accept queue, nil if unknown.
func (l *QUICLayer) queueFor(alpn string) chan inbound {
	switch alpn {
	case ALPNRaft:
		return l.raftQ
	case ALPNRPC:
		return l.rpcQ
	}
	return nil
}

// peerSlot carries the peer authorized during an accepted connection's
// handshake to acceptConns, through the connection's context.
type peerSlot struct {
	mu   sync.Mutex
	peer PeerInfo
	ok   bool
}

type peerSlotKey struct{}

func (s *peerSlot) set(p PeerInfo) {
	s.mu.Lock()
	s.peer, s.ok = p, true
	s.mu.Unlock()
}

func (s *peerSlot) get() (PeerInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peer, s.ok
}

// connContext is quic.Transport.ConnContext: every incoming connection gets
// an empty peerSlot, which the handshake fills.
func (l *QUICLayer) connContext(ctx context.Context, _ *quic.ClientInfo) (context.Context, error) {
	if l.ctx.Err() != nil {
		return nil, ErrLayerClosed
	}
	return context.WithValue(ctx, peerSlotKey{}, &peerSlot{}), nil
}

// acceptConns accepts connections until Close, handing each to serveConn.
func (l *QUICLayer) acceptConns() {
	defer l.wg.Done()
	for {
		conn, err := l.ln.Accept(l.ctx)
		if err != nil {
			if l.ctx.Err() == nil {
				l.log.Error("accepting QUIC connections stopped", "err", err)
			}
			return
		}
		l.admit(conn)
	}
}

// admit checks an accepted connection and starts its serveConn, or refuses
// it: unknown ALPN, no authorized peer, layer closed or acceptedConnsMax.
func (l *QUICLayer) admit(conn *quic.Conn) {
	alpn := conn.ConnectionState().TLS.NegotiatedProtocol
	q := l.queueFor(alpn)
	slot, _ := conn.Context().Value(peerSlotKey{}).(*peerSlot)
	var peer PeerInfo
	ok := false
	if slot != nil {
		peer, ok = slot.get()
	}
	if q == nil || !ok {
		l.log.Warn("refusing connection", "remote", conn.RemoteAddr(), "alpn", alpn, "authorized", ok)
		_ = conn.CloseWithError(connCodeRefused, "refused")
		return
	}
	peer.Addr = conn.RemoteAddr()
	l.mu.Lock()
	admitted := !l.closed && l.acceptedConns < acceptedConnsMax
	if admitted {
		l.acceptedConns++
		l.wg.Add(1)
	}
	l.mu.Unlock()
	if !admitted {
		l.log.Warn("refusing connection: closed or too many", "remote", conn.RemoteAddr(), "max", acceptedConnsMax)
		_ = conn.CloseWithError(connCodeRefused, "too many connections")
		return
	}
	go l.serveConn(conn, q, peer)
}

// serveConn queues the streams peer opens on conn until conn ends or the
// layer closes, then closes conn.
func (l *QUICLayer) serveConn(conn *quic.Conn, q chan inbound, peer PeerInfo) {
	defer l.wg.Done()
	defer func() {
		_ = conn.CloseWithError(connCodeClosing, "")
		l.mu.Lock()
		l.acceptedConns--
		l.mu.Unlock()
	}()
	for {
		s, err := conn.AcceptStream(l.ctx)
		if err != nil {
			return
		}
		sc := newStreamConn(s, conn)
		l.mu.Lock()
		l.openStreams++
		l.mu.Unlock()
		sc.onClose = l.streamClosed
		select {
		case q <- inbound{conn: sc, peer: peer}:
		default:
			l.log.Warn("accept queue full, refusing stream", "peer", peer.NodeID, "queue", cap(q))
			sc.refuse()
		}
	}
}

// Close stops accepting, closes every connection (peers see an orderly
// close), waits for the layer's goroutines, then for the streams handed out
// by Accept and AcceptRPC to be closed (at most closeStreamsWaitMax; they
// fail on their next read or write), and closes the UDP socket. So when
// raft.NetworkTransport.Close returns, none of its handlers is still
// running. Close is idempotent; later calls return the first call's result.
func (l *QUICLayer) Close() error {
	l.closeOnce.Do(func() { l.closeErr = l.close() })
	return l.closeErr
}

func (l *QUICLayer) close() error {
	l.mu.Lock()
	l.closed = true
	var dialed []*quic.Conn
	for _, e := range l.conns {
		select {
		case <-e.done:
			if e.conn != nil {
				dialed = append(dialed, e.conn)
			}
		default: // dial still running: it closes its own connection
		}
	}
	l.conns = nil
	l.mu.Unlock()

	l.cancel()
	errs := []error{l.ln.Close()}
	for _, c := range dialed {
		_ = c.CloseWithError(connCodeClosing, "node shutting down")
	}
	l.wg.Wait()
	for _, q := range []chan inbound{l.raftQ, l.rpcQ} {
		for len(q) > 0 {
			(<-q).conn.refuse()
		}
	}
	l.waitStreamsClosed()
	errs = append(errs, l.tr.Close(), l.udp.Close())
	return errors.Join(errs...)
}

// waitStreamsClosed waits, at most closeStreamsWaitMax, until every
// accepted stream has been closed by whoever holds it.
func (l *QUICLayer) waitStreamsClosed() {
	l.mu.Lock()
	if l.openStreams == 0 {
		l.mu.Unlock()
		return
	}
	l.streamsDone = make(chan struct{})
	done, open := l.streamsDone, l.openStreams
	l.mu.Unlock()
	timer := time.NewTimer(closeStreamsWaitMax)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		l.log.Warn("closing with accepted streams still open", "streams", open, "waited", closeStreamsWaitMax)
	}
}

// streamClosed is called once by each accepted stream when it is closed.
func (l *QUICLayer) streamClosed() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.openStreams--
	if l.openStreams == 0 && l.streamsDone != nil {
		close(l.streamsDone)
		l.streamsDone = nil
	}
}

// streamConn is one bidirectional QUIC stream as a net.Conn. A QUIC stream
// counts against the peer's MaxIncomingStreams until both directions end,
// so Close ends both: CancelRead for ours, Close (FIN) for theirs.
type streamConn struct {
	*quic.Stream
	conn      *quic.Conn
	closeOnce sync.Once
	onClose   func() // set on accepted streams: the layer counts them
}

var _ net.Conn = (*streamConn)(nil)

func newStreamConn(s *quic.Stream, c *quic.Conn) *streamConn {
	return &streamConn{Stream: s, conn: c}
}

// Read reads from the stream. An orderly close of the whole connection
// (connCodeClosing, by either side) reads as io.EOF, as a TCP FIN would:
// raft's connection handlers treat only io.EOF as a quiet end, and would
// otherwise log an error for every stream at every node shutdown. A close
// in the middle of a message still fails the reader's decoding.
func (c *streamConn) Read(p []byte) (int, error) {
	n, err := c.Stream.Read(p)
	var appErr *quic.ApplicationError
	if errors.As(err, &appErr) && appErr.ErrorCode == connCodeClosing {
		err = io.EOF
	}
	return n, err
}

// LocalAddr is the connection's local UDP address.
func (c *streamConn) LocalAddr() net.Addr { return c.conn.LocalAddr() }

// RemoteAddr is the connection's remote UDP address.
func (c *streamConn) RemoteAddr() net.Addr { return c.conn.RemoteAddr() }

// Close ends both directions of the stream; it is idempotent and returns
// nil. quic-go's Stream.Close fails only when the peer already stopped
// reading (STOP_SENDING), and the stream is finished either way.
func (c *streamConn) Close() error {
	c.closeOnce.Do(func() {
		c.Stream.CancelRead(streamCodeClosed)
		_ = c.Stream.Close()
		if c.onClose != nil {
			c.onClose()
		}
	})
	return nil
}

// refuse aborts both directions, telling the peer we are busy.
func (c *streamConn) refuse() {
	c.closeOnce.Do(func() {
		c.Stream.CancelRead(streamCodeBusy)
		c.Stream.CancelWrite(streamCodeBusy)
		if c.onClose != nil {
			c.onClose()
		}
	})
}

// filteredConn drops datagrams to or from peers the filter refuses, as a
// cut network link would (tests only).
type filteredConn struct {
	net.PacketConn
	allow func(net.Addr) bool
}

// ReadFrom returns the next datagram from an allowed peer.
func (f *filteredConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := f.PacketConn.ReadFrom(p)
		if err != nil || f.allow(addr) {
			return n, addr, err
		}
	}
}

// WriteTo sends to allowed peers and silently drops the rest.
func (f *filteredConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if !f.allow(addr) {
		return len(p), nil
	}
	return f.PacketConn.WriteTo(p, addr)
}
