package migrations

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// The session speaks the simple query protocol itself, so that it can send
// the next migration's query before the answer to the last one is read
// (pgx's own Exec reads each answer before anything else is sent).

// sendQuery sends one simple query (any number of statements) and returns
// without reading its answer. If ctx ends while a large query is still
// being written, the write is cut short; a failure to send leaves the
// connection closed. A query sent whole is the server's to run: readQuery
// then asks the server to cancel it.
func sendQuery(ctx context.Context, pc *pgconn.PgConn, sql string) error {
	cut := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(cut)
		_ = pc.Conn().SetWriteDeadline(time.Now())
	})
	fe := pc.Frontend()
	fe.SendQuery(&pgproto3.Query{String: sql})
	err := fe.Flush()
	if !stop() {
		<-cut
		_ = pc.Conn().SetWriteDeadline(time.Time{})
	}
	if err != nil {
		closeConn(pc)
		return err
	}
	return nil
}

// readQuery reads the answer to one simple query, up to ReadyForQuery: the
// result of each statement that completed (rows copied), and the error of
// the one that failed, after which the server ran none of the rest.
//
// When ctx ends first (Ctrl-C), it asks the server to cancel what it is
// running — so a transaction fails there, before its COMMIT, and the
// connection (with the migration lock) stays usable — and goes on reading
// the answer; a server that does not answer within cancelGrace costs the
// connection.
func readQuery(ctx context.Context, pc *pgconn.PgConn) ([]*pgconn.Result, error) {
	var (
		mu       sync.Mutex
		finished = make(chan struct{})
	)
	stop := context.AfterFunc(ctx, func() {
		cctx, cancel := context.WithTimeout(context.Background(), cancelGrace)
		defer cancel()
		_ = pc.CancelRequest(cctx)
		select {
		case <-finished:
		case <-cctx.Done():
			mu.Lock()
			defer mu.Unlock()
			select {
			case <-finished:
			default:
				_ = pc.Conn().SetReadDeadline(time.Now()) // unblocks the read below
			}
		}
	})
	defer func() {
		mu.Lock()
		close(finished)
		mu.Unlock()
		stop()
	}()

	var (
		results []*pgconn.Result
		rows    [][][]byte
		failed  error
	)
	for {
		msg, err := pc.ReceiveMessage(context.Background())
		if err != nil {
			closeConn(pc)
			if failed != nil {
				// The server said why before it closed the connection
				// (57P01 terminated, 57P03 shutting down…): that is the error.
				return results, failed
			}
			if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) {
				return results, pgErr // a FATAL error: the server's words, not the receiver's wrapping
			}
			return results, err
		}
		switch msg := msg.(type) {
		case *pgproto3.DataRow:
			row := make([][]byte, len(msg.Values))
			for i, v := range msg.Values {
				if v != nil {
					row[i] = bytes.Clone(v)
				}
			}
			rows = append(rows, row)
		case *pgproto3.CommandComplete:
			results = append(results, &pgconn.Result{CommandTag: pgconn.NewCommandTag(string(msg.CommandTag)), Rows: rows})
			rows = nil
		case *pgproto3.CopyInResponse:
			// COPY … FROM STDIN (Load refuses it; never wait for rows
			// that will not come): the server fails the statement.
			pc.Frontend().Send(&pgproto3.CopyFail{Message: "a migration cannot send COPY data"})
			if err := pc.Frontend().Flush(); err != nil {
				closeConn(pc)
				return results, err
			}
		case *pgproto3.ErrorResponse:
			if failed == nil {
				failed = pgconn.ErrorResponseToPgError(msg)
			}
		case *pgproto3.ReadyForQuery:
			return results, failed
		}
	}
}

// cancelGrace is how long a cancelled query's answer is waited for.
const cancelGrace = 10 * time.Second

func closeConn(pc *pgconn.PgConn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = pc.Close(ctx)
}
