// Is a shared library's image complete? A pure check over the file's bytes (no I/O): the
// ELF header, the program headers and every PT_LOAD segment, the section headers and every
// section with file content must lie within the file. A linker that rewrites its output in
// place exposes a prefix of the final image for a while; dlopen() of that prefix maps
// garbage or fails in confusing ways. Also lists STB_GNU_UNIQUE symbols (what keeps an
// image loaded after dlclose) for the loader's diagnostics.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hmr::detail {

/// What `check_elf_image` found.
struct elf_image_status {
  bool complete = false;  ///< true when every header and loadable byte is within the file
  std::string reason{};   ///< why it is not complete (empty when it is)
};

/// Reads fixed-width integers of either byte order from an ELF image.
class elf_reader {
 public:
  /// Reads `image`; `big_endian` from EI_DATA, `wide` for ELFCLASS64.
  elf_reader(std::string_view image, bool big_endian, bool wide) noexcept
      : image_(image), big_(big_endian), wide_(wide) {}

  /// True when [offset, offset + size) lies within the image (overflow-safe).
  [[nodiscard]] bool within(std::uint64_t offset, std::uint64_t size) const noexcept {
    return offset <= image_.size() && size <= image_.size() - offset;
  }
  /// An unsigned integer of `width` bytes at `offset` (0 when out of range).
  [[nodiscard]] std::uint64_t read(std::uint64_t offset, unsigned width) const noexcept {
    if (!within(offset, width)) return 0;
    std::uint64_t value = 0;
    for (unsigned i = 0; i < width; ++i) {
      const auto byte = static_cast<unsigned char>(image_[offset + (big_ ? i : width - 1 - i)]);
      value = (value << 8) | byte;
    }
    return value;
  }
  /// A field that is 8 bytes wide in ELF64 and 4 in ELF32.
  [[nodiscard]] std::uint64_t word(std::uint64_t offset) const noexcept {
    return read(offset, wide_ ? 8U : 4U);
  }
  /// True for ELFCLASS64.
  [[nodiscard]] bool wide() const noexcept { return wide_; }
  /// The image's size in bytes.
  [[nodiscard]] std::uint64_t size() const noexcept { return image_.size(); }
  /// The NUL-terminated string at `offset` (empty when out of range).
  [[nodiscard]] std::string_view c_string(std::uint64_t offset) const noexcept {
    if (offset >= image_.size()) return {};
    const std::string_view rest = image_.substr(offset);
    return rest.substr(0, rest.find('\0'));
  }

 private:
  std::string_view image_;
  bool big_;
  bool wide_;
};

/// The section header table of an image: where it is and how many entries it has.
struct elf_sections {
  std::uint64_t offset = 0;  ///< e_shoff
  std::uint64_t count = 0;   ///< e_shnum (or the extended count from section 0)
  std::uint64_t entry = 0;   ///< e_shentsize
};

/// Validates the ELF identification and returns a reader; `error` set on failure.
inline elf_reader open_elf(std::string_view image, std::string& error) {
  error.clear();
  if (image.size() < 16 || image.substr(0, 4) != std::string_view("\x7f" "ELF", 4)) {
    error = image.size() < 16 ? "the file is too short for an ELF header (" +
                                    std::to_string(image.size()) + " bytes)"
                              : "not an ELF file (bad magic)";
    return {image, false, false};
  }
  const auto cls = static_cast<unsigned char>(image[4]);
  const auto data = static_cast<unsigned char>(image[5]);
  if ((cls != 1 && cls != 2) || (data != 1 && data != 2)) {
    error = "unknown ELF class or byte order";
    return {image, false, false};
  }
  elf_reader elf(image, data == 2, cls == 2);
  if (!elf.within(0, elf.wide() ? 64 : 52)) error = "the ELF header is cut off";
  return elf;
}

/// The section header table described by the ELF header.
inline elf_sections elf_section_table(const elf_reader& elf) noexcept {
  const bool w = elf.wide();
  elf_sections s;
  s.offset = elf.word(w ? 40 : 32);
  s.entry = elf.read(w ? 58 : 46, 2);
  s.count = elf.read(w ? 60 : 48, 2);
  if (s.offset != 0 && s.count == 0 && elf.within(s.offset, s.entry)) {
    s.count = elf.word(s.offset + (w ? 32 : 20));  // extended numbering: section 0's sh_size
  }
  return s;
}

/// Checks that the image is a whole ELF shared object (see the file comment).
inline elf_image_status check_elf_image(std::string_view image) {
  std::string error;
  const elf_reader elf = open_elf(image, error);
  if (!error.empty()) return {false, error};
  const bool w = elf.wide();
  const auto size_text = std::to_string(elf.size());
  auto beyond = [&](const std::string& what, std::uint64_t end) {
    return elf_image_status{false, "the file is " + size_text + " bytes but " + what +
                                       " ends at byte " + std::to_string(end) +
                                       " (still being written?)"};
  };
  if (elf.read(16, 2) != 3) return {false, "not a shared object (ELF type is not ET_DYN)"};

  // Program headers and the loadable segments.
  const std::uint64_t phoff = elf.word(w ? 32 : 28);
  const std::uint64_t phentsize = elf.read(w ? 54 : 42, 2);
  const std::uint64_t phnum = elf.read(w ? 56 : 44, 2);
  if (phnum == 0) return {false, "no program headers"};
  if (phentsize < (w ? 56U : 32U)) return {false, "bad program header size"};
  if (!elf.within(phoff, phnum * phentsize)) return beyond("the program header table", phoff + phnum * phentsize);
  for (std::uint64_t i = 0; i < phnum; ++i) {
    const std::uint64_t ph = phoff + i * phentsize;
    if (elf.read(ph, 4) != 1) continue;  // PT_LOAD only
    const std::uint64_t offset = elf.word(ph + (w ? 8 : 4));
    const std::uint64_t filesz = elf.word(ph + (w ? 32 : 16));
    if (!elf.within(offset, filesz)) {
      return beyond("loadable segment " + std::to_string(i), offset + filesz);
    }
  }

  // Section headers and the sections with file content.
  const elf_sections sections = elf_section_table(elf);
  if (sections.offset == 0) return {false, "no section header table (GNU ld writes it last)"};
  if (sections.entry < (w ? 64U : 40U)) return {false, "bad section header size"};
  if (sections.count > elf.size() / sections.entry ||
      !elf.within(sections.offset, sections.count * sections.entry)) {
    return beyond("the section header table", sections.offset + sections.count * sections.entry);
  }
  for (std::uint64_t i = 1; i < sections.count; ++i) {
    const std::uint64_t sh = sections.offset + i * sections.entry;
    if (elf.read(sh + 4, 4) == 8) continue;  // SHT_NOBITS (.bss) has no bytes in the file
    const std::uint64_t offset = elf.word(sh + (w ? 24 : 16));
    const std::uint64_t bytes = elf.word(sh + (w ? 32 : 20));
    if (!elf.within(offset, bytes)) return beyond("section " + std::to_string(i), offset + bytes);
  }
  return {true, {}};
}

/// The names of the STB_GNU_UNIQUE symbols an image defines in its dynamic symbol table
/// (g++ makes template static members and inline functions' static variables unique unless
/// built with -fno-gnu-unique; such an image is never unloaded). Empty when none or when
/// the image is not a readable ELF file.
inline std::vector<std::string> gnu_unique_symbols(std::string_view image) {
  std::vector<std::string> out;
  std::string error;
  const elf_reader elf = open_elf(image, error);
  if (!error.empty()) return out;
  const bool w = elf.wide();
  const elf_sections sections = elf_section_table(elf);
  if (sections.offset == 0 || sections.entry < (w ? 64U : 40U) ||
      sections.count > elf.size() / sections.entry) {
    return out;
  }
  for (std::uint64_t i = 0; i < sections.count; ++i) {
    const std::uint64_t sh = sections.offset + i * sections.entry;
    if (elf.read(sh + 4, 4) != 11) continue;  // SHT_DYNSYM
    const std::uint64_t offset = elf.word(sh + (w ? 24 : 16));
    const std::uint64_t bytes = elf.word(sh + (w ? 32 : 20));
    const std::uint64_t link = elf.read(sh + (w ? 40 : 24), 4);
    const std::uint64_t sym_size = w ? 24 : 16;
    if (link >= sections.count || !elf.within(offset, bytes)) break;
    const std::uint64_t strtab = elf.word(sections.offset + link * sections.entry + (w ? 24 : 16));
    for (std::uint64_t s = offset; s + sym_size <= offset + bytes; s += sym_size) {
      const std::uint64_t info = elf.read(s + (w ? 4 : 12), 1);
      const std::uint64_t shndx = elf.read(s + (w ? 6 : 14), 2);
      if ((info >> 4) == 10 && shndx != 0) {  // STB_GNU_UNIQUE, defined here
        out.emplace_back(elf.c_string(strtab + elf.read(s, 4)));
      }
    }
    break;
  }
  return out;
}

}  // namespace hmr::detail
