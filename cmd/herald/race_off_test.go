//go:build !race

package main

// raceDetector tells whether the tests were built with -race, which
// multiplies a process's memory: memory bounds are measured without it.
const raceDetector = false
