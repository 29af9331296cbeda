//go:build !ledger_nonats

package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/schema-ledger/ledger/ledger"
	"github.com/schema-ledger/ledger/ledger/natsbus"
)

// verifyNATS compares the ledger with its stream on --nats.
func (e *env) verifyNATS(ctx context.Context, store *ledger.Store, nf *natsFlags) (streamReport, error) {
	serverURL, err := nf.serverURL()
	if err != nil {
		return streamReport{}, err
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	nc, err := natsbus.Connect(cctx, nf.connectOptions("verify", serverURL, nil))
	if cctx.Err() != nil && ctx.Err() == nil {
		return streamReport{}, fmt.Errorf("cannot reach the NATS server at %s within 10s", natsbus.RedactURL(serverURL))
	}
	if err != nil {
		return streamReport{}, natsFlagError(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return streamReport{}, err
	}
	name := nf.name
	if name == "" {
		db, err := ledger.DatabaseName(ctx, e.pool)
		if err != nil {
			return streamReport{}, err
		}
		name = natsbus.DefaultName(db, store.Schema())
	}
	return compareStream(ctx, store, js, natsbus.NamesFor(name))
}

// compareStream walks the stream and the chain side by side from seq 1 and
// reports the first seq where they differ: a different hash or prev hash
// (the history was rewritten, or re-chained), or an event the stream holds
// that the database no longer does (a cut tail). Events the relay has not
// published yet are not a divergence.
func compareStream(ctx context.Context, store *ledger.Store, js jetstream.JetStream, n natsbus.Names) (streamReport, error) {
	rep := streamReport{Stream: n.Stream}
	h, err := store.Head(ctx)
	if err != nil {
		return rep, err
	}
	rep.HeadSeq = h.Seq
	nextDB, stop := iter.Pull2(store.Events(ctx, ledger.Filter{}))
	defer stop()
	for sev, err := range natsbus.ReadEvents(ctx, js, n, 0) {
		var malformed *natsbus.MalformedMessageError
		switch {
		case errors.As(err, &malformed):
			rep.Divergence = fmt.Sprintf("seq %d: the stream's message does not check out: %v", rep.Compared+1, err)
			return rep, nil
		case errors.Is(err, jetstream.ErrStreamNotFound):
			return rep, fmt.Errorf("no stream %s on this NATS server: run `ledger relay` (with the same --name), or name the stream with --name: %w", n.Stream, err)
		case err != nil:
			return rep, err
		}
		rep.StreamLast = sev.Seq
		dev, derr, ok := nextDB()
		if derr != nil {
			return rep, derr
		}
		switch {
		case !ok:
			rep.Divergence = fmt.Sprintf("seq %d: the stream holds it (hash %.12x), the database's chain ends at seq %d: events were deleted from the database (a cut tail)", sev.Seq, sev.Hash, rep.Compared)
		case dev.Seq != sev.Seq:
			rep.Divergence = fmt.Sprintf("seq %d: the stream holds it, the database's next event is seq %d: events are missing from the database", sev.Seq, dev.Seq)
		case !bytes.Equal(dev.Hash, sev.Hash) || !bytes.Equal(dev.PrevHash, sev.PrevHash):
			rep.Divergence = fmt.Sprintf("seq %d: the database has hash %.12x (prev %.12x), the stream %.12x (prev %.12x): the history was rewritten in the database", sev.Seq, dev.Hash, dev.PrevHash, sev.Hash, sev.PrevHash)
		}
		if rep.Divergence != "" {
			return rep, nil
		}
		rep.Compared++
	}
	if rep.StreamLast > rep.HeadSeq {
		rep.Divergence = fmt.Sprintf("seq %d: the stream goes on past the database's head (seq %d): the database lost its tail", rep.HeadSeq+1, rep.HeadSeq)
	}
	return rep, nil
}
