package backup

import (
	"context"
	"io"
	"sync"
	"sync/atomic"

	"github.com/kopia/kopia/repo/object"
)

// segment is how much one reader fetches at a time in readAhead.
const segment = 8 << 20

// readAhead reads object oid with workers readers at once, each on its own
// segment, and hands the segments out in order: decryption and
// decompression use every core while the consumer writes. At most
// 2×workers segments are in memory.
func readAhead(ctx context.Context, open func(context.Context) (object.Reader, error), length int64, workers int) io.ReadCloser {
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	n := int((length + segment - 1) / segment)
	type result struct {
		b   []byte
		err error
	}
	results := make([]chan result, n)
	for i := range results {
		results[i] = make(chan result, 1)
	}
	window := make(chan struct{}, 2*workers)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var rd object.Reader
			defer func() {
				if rd != nil {
					_ = rd.Close() // a reader: nothing to lose
				}
			}()
			for {
				select {
				case window <- struct{}{}:
				case <-ctx.Done():
					return
				}
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				res := func() result {
					if rd == nil {
						var err error
						if rd, err = open(ctx); err != nil {
							return result{err: err}
						}
					}
					if _, err := rd.Seek(int64(i)*segment, io.SeekStart); err != nil {
						return result{err: err}
					}
					b := make([]byte, min(segment, length-int64(i)*segment))
					_, err := io.ReadFull(rd, b)
					return result{b: b, err: err}
				}()
				results[i] <- res
			}
		})
	}
	go func() {
		defer func() {
			cancel()
			wg.Wait()
		}()
		for i := range n {
			var res result
			select {
			case res = <-results[i]:
			case <-ctx.Done():
				pw.CloseWithError(ctx.Err())
				return
			}
			if res.err != nil {
				pw.CloseWithError(res.err)
				return
			}
			if _, err := pw.Write(res.b); err != nil {
				return
			}
			<-window
		}
		_ = pw.Close() // PipeWriter.Close always returns nil
	}()
	return &readAheadCloser{PipeReader: pr, cancel: cancel}
}

type readAheadCloser struct {
	*io.PipeReader
	cancel context.CancelFunc
}

func (r *readAheadCloser) Close() error {
	r.cancel()
	return r.PipeReader.Close()
}
