//go:build cgo

package main

// In a cgo build the runtime's threads are pthreads (see cgoThreads).
func init() { cgoThreads = true }
