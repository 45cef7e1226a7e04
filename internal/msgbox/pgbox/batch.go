package pgbox

import (
	"context"

	"github.com/bizpipe/bizpipe/internal/msgbox"
)

// ReceiveBatch stores and routes items as ReceiveRouted does each (see
// msgbox.Batcher). Each item is its own transaction: a Receive here is
// already a single statement (or two round trips when routed), and the
// commits of concurrent callers share the server's WAL flushes.
func (b *Box) ReceiveBatch(ctx context.Context, items []msgbox.Receipt, route msgbox.Router) []msgbox.ReceiveResult {
	return msgbox.ReceiveEach(ctx, b, items, route)
}

// FinishBatch records the outcomes of items as Finish does each (see
// msgbox.Batcher).
func (b *Box) FinishBatch(ctx context.Context, items []msgbox.Finishing) []error {
	return msgbox.FinishEach(ctx, b, items)
}
