// Package syncbuf is a bytes.Buffer safe for concurrent writers, for tests
// that capture the output of a relay, a watcher or the CLI while their
// goroutines still write to it.
package syncbuf

import (
	"bytes"
	"sync"
)

// Buffer collects writes from any number of goroutines. The zero value is
// ready to use; it is safe for concurrent use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String is everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
