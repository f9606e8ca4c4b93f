// pgx_check: pgx v4 with its defaults (an LRU cache of named prepared
// statements, "lrupsc_*") through a pooler. CLIENTS connections at once each
// run ROUNDS queries and transactions and check every value; exits 1 with
// the first failure. Built by tests/integration/test_drivers.py with Debian's
// golang-github-jackc-pgx-v4-dev (GOPATH=/usr/share/gocode GO111MODULE=off).
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"

	"github.com/jackc/pgx/v4"
)

func client(ctx context.Context, dsn string, i, rounds int) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("client %d: connect: %w", i, err)
	}
	defer conn.Close(ctx)
	for j := 0; j < rounds; j++ {
		var v int
		if err := conn.QueryRow(ctx, "SELECT $1::int * 1000 + $2::int", i, j).Scan(&v); err != nil {
			return fmt.Errorf("client %d round %d: %w", i, j, err)
		}
		if v != i*1000+j {
			return fmt.Errorf("client %d round %d: got %d", i, j, v)
		}
		tx, err := conn.Begin(ctx)
		if err != nil {
			return fmt.Errorf("client %d begin: %w", i, err)
		}
		var s string
		if err := tx.QueryRow(ctx, "SELECT $1::text || '-' || $2::text", strconv.Itoa(i), strconv.Itoa(j)).Scan(&s); err != nil {
			return fmt.Errorf("client %d round %d in tx: %w", i, j, err)
		}
		if s != fmt.Sprintf("%d-%d", i, j) {
			return fmt.Errorf("client %d round %d in tx: got %q", i, j, s)
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("client %d commit: %w", i, err)
		}
	}
	return nil
}

func main() {
	dsn := os.Args[1]
	clients, _ := strconv.Atoi(os.Args[2])
	rounds, _ := strconv.Atoi(os.Args[3])
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := client(ctx, dsn, i, rounds); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	failed := false
	for err := range errs {
		fmt.Fprintln(os.Stderr, err)
		failed = true
	}
	if failed {
		os.Exit(1)
	}
	fmt.Printf("ok: %d clients x %d rounds\n", clients, rounds)
}
