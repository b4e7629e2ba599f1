// The Go side of `npm run bench -- concurrency`: the same channel and mutex
// workloads as bench/concurrency.ts, printed as one JSON object of ops/s.
package main

import (
	"encoding/json"
	"os"
	"strconv"
	"sync"
	"time"
)

func channelRun(capacity, producers, consumers, total int) float64 {
	ch := make(chan int, capacity)
	var wg sync.WaitGroup
	start := time.Now()
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < total/producers; i++ {
				ch <- i
			}
		}()
	}
	for c := 0; c < consumers; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < total/consumers; i++ {
				<-ch
			}
		}()
	}
	wg.Wait()
	return float64(total) / time.Since(start).Seconds()
}

func mutexRun(tasks, total int) float64 {
	var mu sync.Mutex
	counter := 0
	var wg sync.WaitGroup
	start := time.Now()
	for t := 0; t < tasks; t++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < total/tasks; i++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if counter != total {
		panic("lost increments")
	}
	return float64(total) / time.Since(start).Seconds()
}

func main() {
	total, _ := strconv.Atoi(os.Args[1])
	result := map[string]float64{}
	for _, capacity := range []int{0, 128} {
		result["1x1_cap"+strconv.Itoa(capacity)] = channelRun(capacity, 1, 1, total)
		result["4x4_cap"+strconv.Itoa(capacity)] = channelRun(capacity, 4, 4, total)
	}
	result["mutex_4tasks"] = mutexRun(4, total)
	json.NewEncoder(os.Stdout).Encode(result)
}
