package ledger

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DatabaseName reads current_database() through db: the <database> of a
// ledger's default name on NATS.
func DatabaseName(ctx context.Context, db DB) (string, error) {
	var name string
	if err := db.QueryRow(ctx, "SELECT current_database()").Scan(&name); err != nil {
		return "", fmt.Errorf("read the database name: %w", err)
	}
	return name, nil
}

// Listen holds one connection LISTENing on channels (each a Store's
// Channel(); an append NOTIFYs its new head seq there) until ctx ends or
// the connection fails, and calls heard for each notification with the
// channel and the seq. Right after its LISTENs it calls heard once per
// channel with seq 0: notifications sent before are not heard, so the
// caller reads the head then.
//
// db must be a pool (*pgxpool.Pool: one of its connections is taken for
// the whole time and closed at the end, never returned LISTENing) or a
// connection of the caller's own (*pgx.Conn, used as is). It returns
// ctx's error when ctx ends.
func Listen(ctx context.Context, db DB, channels []string, heard func(channel string, seq int64)) error {
	var conn *pgx.Conn
	switch d := db.(type) {
	case *pgxpool.Pool:
		c, err := d.Acquire(ctx)
		if err != nil {
			return err
		}
		conn = c.Hijack()
		defer conn.Close(context.WithoutCancel(ctx))
	case *pgx.Conn:
		conn = d
	default:
		return errors.New("listen: want a *pgxpool.Pool or a *pgx.Conn")
	}
	if len(channels) > 0 {
		b := &pgx.Batch{}
		for _, ch := range channels {
			b.Queue("LISTEN " + pgx.Identifier{ch}.Sanitize())
		}
		if err := conn.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
	}
	for _, ch := range channels {
		heard(ch, 0)
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		seq, _ := strconv.ParseInt(n.Payload, 10, 64)
		heard(n.Channel, seq)
	}
}
