package main

import (
	"bytes"
	"encoding/binary"
)

const (
	dllName    = "bcryptprimitives.dll"
	exportName = "ProcessPrng"
	forwardTo  = "advapi32.SystemFunction036"

	fileAlign    = 0x200  // where sections start in the file
	sectionAlign = 0x1000 // and in memory
	peOffset     = 0x40   // the PE header right after the DOS header
	exportRVA    = sectionAlign
)

// forwarderDLL lays out a PE32+ (amd64) DLL of one read-only section
// holding the export directory. An export whose address lies inside the
// export directory is a forwarder: the loader reads the string there
// ("module.function") and resolves that instead, so the image needs no
// code, no imports, no entry point and no relocations (it holds no
// absolute address, so it can load at any base).
func forwarderDLL() []byte {
	exports := exportDirectory()

	le := binary.LittleEndian
	var b bytes.Buffer
	w := func(v any) { _ = binary.Write(&b, le, v) } // bytes.Buffer's writes never fail

	// DOS header: the magic, and at 0x3c the offset of the PE header; the
	// rest (the DOS stub program) may be zero.
	dos := make([]byte, peOffset)
	copy(dos, "MZ")
	le.PutUint32(dos[0x3c:], peOffset)
	b.Write(dos)

	b.WriteString("PE\x00\x00")
	// COFF file header.
	w(uint16(0x8664))                   // Machine: amd64
	w(uint16(1))                        // NumberOfSections
	w(uint32(0))                        // TimeDateStamp
	w(uint32(0))                        // PointerToSymbolTable
	w(uint32(0))                        // NumberOfSymbols
	w(uint16(240))                      // SizeOfOptionalHeader: PE32+ with 16 directories
	w(uint16(0x0002 | 0x0020 | 0x2000)) // executable image, large address aware, DLL

	sectionFile := alignUp(len(exports), fileAlign)
	sectionMem := alignUp(len(exports), sectionAlign)
	// Optional header, PE32+.
	w(uint16(0x20b))                                 // Magic
	w([2]uint8{})                                    // linker version
	w(uint32(0))                                     // SizeOfCode
	w(uint32(sectionFile))                           // SizeOfInitializedData
	w(uint32(0))                                     // SizeOfUninitializedData
	w(uint32(0))                                     // AddressOfEntryPoint: none, no DllMain
	w(uint32(0))                                     // BaseOfCode
	w(uint64(0x180000000))                           // ImageBase, the usual one for 64-bit DLLs
	w(uint32(sectionAlign))                          // SectionAlignment
	w(uint32(fileAlign))                             // FileAlignment
	w([2]uint16{6, 0})                               // operating system version (Vista)
	w([2]uint16{})                                   // image version
	w([2]uint16{6, 0})                               // subsystem version
	w(uint32(0))                                     // Win32VersionValue
	w(uint32(exportRVA + sectionMem))                // SizeOfImage
	w(uint32(fileAlign))                             // SizeOfHeaders
	w(uint32(0))                                     // CheckSum: only drivers need one
	w(uint16(3))                                     // Subsystem: console
	w(uint16(0x0040 | 0x0100))                       // dynamic base, NX compatible
	w([4]uint64{0x100000, 0x1000, 0x100000, 0x1000}) // stack and heap reserve, commit
	w(uint32(0))                                     // LoaderFlags
	w(uint32(16))                                    // NumberOfRvaAndSizes
	w([2]uint32{exportRVA, uint32(len(exports))})    // the export directory
	w([15][2]uint32{})                               // no other directory

	// The one section header.
	var name [8]byte
	copy(name[:], ".edata")
	w(name)
	w(uint32(len(exports)))            // VirtualSize
	w(uint32(exportRVA))               // VirtualAddress
	w(uint32(sectionFile))             // SizeOfRawData
	w(uint32(fileAlign))               // PointerToRawData
	w([3]uint32{})                     // relocations, line numbers, their counts
	w(uint32(0x00000040 | 0x40000000)) // initialized data, readable

	b.Write(make([]byte, fileAlign-b.Len()))
	b.Write(exports)
	b.Write(make([]byte, sectionFile-len(exports)))
	return b.Bytes()
}

// exportDirectory builds the section's contents as they lie at exportRVA:
// the IMAGE_EXPORT_DIRECTORY, its three one-entry tables and the strings
// they point at.
func exportDirectory() []byte {
	const (
		dirSize    = 40
		funcsOff   = dirSize      // address table: one RVA
		namesOff   = funcsOff + 4 // name pointer table: one RVA
		ordinalOff = namesOff + 4 // ordinal table: one uint16
		stringsOff = ordinalOff + 2
	)
	dllNameOff := stringsOff
	exportNameOff := dllNameOff + len(dllName) + 1
	forwardOff := exportNameOff + len(exportName) + 1
	size := forwardOff + len(forwardTo) + 1

	d := make([]byte, size)
	le := binary.LittleEndian
	rva := func(off int) uint32 { return uint32(exportRVA + off) }
	// Characteristics, TimeDateStamp and the version stay zero.
	le.PutUint32(d[12:], rva(dllNameOff))
	le.PutUint32(d[16:], 1) // ordinal base
	le.PutUint32(d[20:], 1) // NumberOfFunctions
	le.PutUint32(d[24:], 1) // NumberOfNames
	le.PutUint32(d[28:], rva(funcsOff))
	le.PutUint32(d[32:], rva(namesOff))
	le.PutUint32(d[36:], rva(ordinalOff))
	le.PutUint32(d[funcsOff:], rva(forwardOff)) // inside the directory: a forwarder
	le.PutUint32(d[namesOff:], rva(exportNameOff))
	le.PutUint16(d[ordinalOff:], 0) // the name's function: index 0
	copy(d[dllNameOff:], dllName)
	copy(d[exportNameOff:], exportName)
	copy(d[forwardOff:], forwardTo)
	return d
}

func alignUp(n, a int) int { return (n + a - 1) &^ (a - 1) }
