package procmem

import (
	"unsafe"

	"golang.org/x/sys/windows"
)

// processMemoryCounters is psapi's PROCESS_MEMORY_COUNTERS (two DWORDs,
// then SIZE_Ts), which golang.org/x/sys/windows does not declare.
type processMemoryCounters struct {
	cb                         uint32
	pageFaultCount             uint32
	peakWorkingSetSize         uintptr
	workingSetSize             uintptr
	quotaPeakPagedPoolUsage    uintptr
	quotaPagedPoolUsage        uintptr
	quotaPeakNonPagedPoolUsage uintptr
	quotaNonPagedPoolUsage     uintptr
	pagefileUsage              uintptr
	peakPagefileUsage          uintptr
}

var getProcessMemoryInfo = windows.NewLazySystemDLL("psapi.dll").NewProc("GetProcessMemoryInfo")

// osPeak returns the process's peak working set in bytes, or -1.
func osPeak() int64 {
	if getProcessMemoryInfo.Find() != nil { // Call would panic
		return -1
	}
	var c processMemoryCounters
	c.cb = uint32(unsafe.Sizeof(c))
	// The pointer is converted in the call itself, which Call (marked
	// go:uintptrescapes) keeps alive and in place until it returns.
	ok, _, _ := getProcessMemoryInfo.Call(uintptr(windows.CurrentProcess()), uintptr(unsafe.Pointer(&c)), uintptr(c.cb))
	if ok == 0 {
		return -1
	}
	return int64(c.peakWorkingSetSize)
}
