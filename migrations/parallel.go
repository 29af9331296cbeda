package migrations

import (
	"runtime"
	"sync"
)

// parallel calls f(0) … f(n-1) from a few goroutines and waits for all:
// reading many small files is dominated by system calls, which overlap.
// A few are read in line: goroutines (and the threads blocking system
// calls take) would cost more than they save. f must only touch what
// belongs to its index.
func parallel(n int, f func(i int)) {
	workers := min(runtime.GOMAXPROCS(0)*2, n)
	if n < 64 || workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var wg sync.WaitGroup
	work := make(chan int, workers)
	for range workers {
		wg.Go(func() {
			for i := range work {
				f(i)
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
}
