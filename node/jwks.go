package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// Limits of a remote key set.
const (
	// JWKSRefreshDefault is how often a RemoteJWKS fetches its set again
	// when NewRemoteJWKS gets 0: often enough to pick up an identity
	// provider's new key well before tokens signed with it appear (they
	// publish ahead of use).
	JWKSRefreshDefault = 15 * time.Minute
	// jwksFetchTimeout bounds one fetch.
	jwksFetchTimeout = 10 * time.Second
	// jwksBytesMax bounds a key set document.
	jwksBytesMax = 1 << 20
)

// RemoteJWKS is an identity provider's JSON Web Key Set, fetched over
// HTTPS and refreshed in the background. A failed refresh keeps the last
// good set (and is logged): an identity provider's outage must not lock
// every user out. Every fetched set passes the same checks as LoadJWKS.
// Keys is safe for concurrent use; Close stops the refresher and waits.
type RemoteJWKS struct {
	url  string
	hc   *http.Client
	log  *slog.Logger
	set  atomic.Pointer[jwk.Set]
	stop context.CancelFunc
	wg   sync.WaitGroup
}

// NewRemoteJWKS fetches the key set at url (https only) and starts
// refreshing it every refresh (0 means JWKSRefreshDefault). It fails if the
// first fetch fails: a node that cannot check tokens should not start.
// hc may be nil (a client with a 10 s timeout); logger may be nil.
func NewRemoteJWKS(ctx context.Context, url string, hc *http.Client, refresh time.Duration, logger *slog.Logger) (*RemoteJWKS, error) {
	if !strings.HasPrefix(url, "https://") {
		return nil, fmt.Errorf("auth.jwks %q: a remote key set must be fetched over https", url)
	}
	if refresh < 0 {
		return nil, fmt.Errorf("auth.jwks: refresh interval %v must not be negative", refresh)
	}
	if refresh == 0 {
		refresh = JWKSRefreshDefault
	}
	if hc == nil {
		hc = &http.Client{Timeout: jwksFetchTimeout}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &RemoteJWKS{url: url, hc: hc, log: logger}
	if err := r.refresh(ctx); err != nil {
		return nil, err
	}
	loopCtx, stop := context.WithCancel(context.Background())
	r.stop = stop
	r.wg.Add(1)
	go r.loop(loopCtx, refresh)
	return r, nil
}

// Keys returns the current key set.
func (r *RemoteJWKS) Keys() jwk.Set { return *r.set.Load() }

// Close stops the background refresh and waits for it. Idempotent.
func (r *RemoteJWKS) Close() error {
	r.stop()
	r.wg.Wait()
	return nil
}

func (r *RemoteJWKS) loop(ctx context.Context, every time.Duration) {
	defer r.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := r.refresh(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("auth.jwks refresh failed; keeping the last good key set", "url", r.url, "err", err)
			}
		}
	}
}

// refresh fetches, parses and checks the set, and swaps it in.
func (r *RemoteJWKS) refresh(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, jwksFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return fmt.Errorf("auth.jwks %s: %w", r.url, err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := r.hc.Do(req)
	if err != nil {
		return fmt.Errorf("auth.jwks %s: %w", r.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("auth.jwks %s: HTTP %d", r.url, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, jwksBytesMax+1))
	if err != nil {
		return fmt.Errorf("auth.jwks %s: %w", r.url, err)
	}
	if len(b) > jwksBytesMax {
		return fmt.Errorf("auth.jwks %s: key set over %d bytes", r.url, jwksBytesMax)
	}
	set, err := jwk.Parse(b)
	if err != nil {
		return fmt.Errorf("auth.jwks %s: %w", r.url, err)
	}
	if err := checkKeySet(set); err != nil {
		return fmt.Errorf("auth.jwks %s: %w", r.url, err)
	}
	if set.Len() == 0 {
		return errors.New("auth.jwks " + r.url + ": the key set is empty")
	}
	r.set.Store(&set)
	return nil
}
