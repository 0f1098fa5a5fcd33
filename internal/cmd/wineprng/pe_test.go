package main

import (
	"bytes"
	"debug/pe"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The DLL is a PE32+ amd64 DLL whose export table, read back as a loader
// reads it, names the DLL and has one export, ProcessPrng, forwarded to
// advapi32.SystemFunction036.
func TestForwarderDLL(t *testing.T) {
	b := forwarderDLL()
	assert.Zero(t, len(b)%fileAlign, "the file is whole file-alignment units")
	f, err := pe.NewFile(bytes.NewReader(b))
	require.NoError(t, err)
	assert.Equal(t, uint16(pe.IMAGE_FILE_MACHINE_AMD64), f.Machine)
	assert.NotZero(t, f.Characteristics&pe.IMAGE_FILE_DLL, "a DLL")
	assert.NotZero(t, f.Characteristics&pe.IMAGE_FILE_EXECUTABLE_IMAGE, "an image")
	opt, ok := f.OptionalHeader.(*pe.OptionalHeader64)
	require.True(t, ok, "PE32+")
	assert.Zero(t, opt.AddressOfEntryPoint, "no DllMain")
	require.Len(t, f.Sections, 1)
	sec := f.Sections[0]
	assert.Equal(t, uint32(exportRVA+sectionAlign), opt.SizeOfImage, "the headers' page and the section's")
	data, err := sec.Data()
	require.NoError(t, err)

	dir := opt.DataDirectory[pe.IMAGE_DIRECTORY_ENTRY_EXPORT]
	require.Equal(t, sec.VirtualAddress, dir.VirtualAddress, "the export directory opens the section")
	require.LessOrEqual(t, dir.Size, sec.VirtualSize)
	for i, d := range opt.DataDirectory {
		if i != pe.IMAGE_DIRECTORY_ENTRY_EXPORT {
			assert.Zero(t, d, "directory %d", i)
		}
	}
	le := binary.LittleEndian
	at := func(rva uint32) []byte { // the section's bytes from rva on
		require.GreaterOrEqual(t, rva, sec.VirtualAddress)
		require.Less(t, rva, sec.VirtualAddress+sec.VirtualSize)
		return data[rva-sec.VirtualAddress:]
	}
	cstring := func(rva uint32) string {
		s := at(rva)
		n := bytes.IndexByte(s, 0)
		require.GreaterOrEqual(t, n, 0, "string at %#x ends", rva)
		return string(s[:n])
	}
	d := at(dir.VirtualAddress)
	assert.Equal(t, "bcryptprimitives.dll", cstring(le.Uint32(d[12:])))
	assert.Equal(t, uint32(1), le.Uint32(d[16:]), "ordinal base")
	require.Equal(t, uint32(1), le.Uint32(d[20:]), "functions")
	require.Equal(t, uint32(1), le.Uint32(d[24:]), "names")
	funcs, names, ordinals := le.Uint32(d[28:]), le.Uint32(d[32:]), le.Uint32(d[36:])
	assert.Equal(t, "ProcessPrng", cstring(le.Uint32(at(names))))
	index := le.Uint16(at(ordinals))
	require.Zero(t, index)
	fn := le.Uint32(at(funcs + 4*uint32(index)))
	assert.True(t, fn >= dir.VirtualAddress && fn < dir.VirtualAddress+dir.Size,
		"the function's address %#x lies in the export directory [%#x, +%#x), which makes it a forwarder", fn, dir.VirtualAddress, dir.Size)
	assert.Equal(t, "advapi32.SystemFunction036", cstring(fn))
}

func TestAlignUp(t *testing.T) {
	for _, tc := range []struct{ n, a, want int }{
		{0, 0x200, 0}, {1, 0x200, 0x200}, {0x200, 0x200, 0x200}, {0x201, 0x1000, 0x1000},
	} {
		assert.Equal(t, tc.want, alignUp(tc.n, tc.a), "alignUp(%#x, %#x)", tc.n, tc.a)
	}
}
