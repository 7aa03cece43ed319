//! What xtask reads of an ELF file (camloop, its libraries), through the `object` crate: the
//! program interpreter and the libraries it needs, where its code starts, its symbols.

use anyhow::{Context, Result};
use object::elf::{DT_NEEDED, PF_X, PT_LOAD};
use object::read::elf::{Dyn, ElfFile, FileHeader, ProgramHeader};
use object::{Object, ObjectSymbol};
use std::path::Path;

/// What the dynamic loader needs to start a binary.
#[derive(Debug, Default, PartialEq)]
pub struct Linking {
    /// The program interpreter (`PT_INTERP`), for an executable that has one.
    pub interpreter: Option<String>,
    /// The libraries named by `DT_NEEDED`, in order.
    pub needed: Vec<String>,
}

pub fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// The interpreter and needed libraries of a 32- or 64-bit ELF file.
pub fn linking(data: &[u8]) -> Result<Linking> {
    match object::File::parse(data)? {
        object::File::Elf32(file) => linking_of(&file),
        object::File::Elf64(file) => linking_of(&file),
        _ => anyhow::bail!("not an ELF file"),
    }
}

fn linking_of<Elf: FileHeader>(file: &ElfFile<'_, Elf>) -> Result<Linking> {
    let (endian, data) = (file.endian(), file.data());
    let mut linking = Linking::default();
    for header in file.elf_program_headers() {
        if let Some(interpreter) = header.interpreter(endian, data)? {
            linking.interpreter = Some(String::from_utf8_lossy(interpreter).into_owned());
        }
    }
    let sections = file.elf_section_table();
    if let Some((entries, strings_at)) = sections.dynamic(endian, data)? {
        let strings = sections.strings(endian, data, strings_at)?;
        for entry in entries {
            if entry.tag32(endian) == Some(DT_NEEDED) {
                let name = entry.string(endian, strings)?;
                linking
                    .needed
                    .push(String::from_utf8_lossy(name).into_owned());
            }
        }
    }
    Ok(linking)
}

/// Where a 64-bit binary's code starts as linked: its lowest executable loaded segment.
pub fn code_start(data: &[u8]) -> Result<Option<u64>> {
    let file = object::read::elf::ElfFile64::<object::Endianness>::parse(data)?;
    let endian = file.endian();
    Ok(file
        .elf_program_headers()
        .iter()
        .filter(|h| h.p_type(endian) == PT_LOAD && h.p_flags(endian) & PF_X != 0)
        .map(|h| h.p_vaddr(endian))
        .min())
}

/// The defined symbols, by address.
pub fn symbols(data: &[u8]) -> Result<Vec<(u64, String)>> {
    let file = object::File::parse(data)?;
    let mut symbols: Vec<(u64, String)> = file
        .symbols()
        .filter(|symbol| !symbol.is_undefined())
        .filter_map(|symbol| Some((symbol.address(), symbol.name().ok()?.to_owned())))
        .collect();
    symbols.sort();
    Ok(symbols)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xtask_itself_has_an_interpreter_needs_libc_and_has_code_and_symbols() {
        let data = read(&std::env::current_exe().unwrap()).unwrap();
        let linking = linking(&data).unwrap();
        assert!(
            linking
                .interpreter
                .as_deref()
                .is_some_and(|i| i.contains("ld-linux")),
            "{linking:?}"
        );
        assert!(
            linking.needed.iter().any(|n| n.starts_with("libc.so")),
            "{linking:?}"
        );
        assert!(code_start(&data).unwrap().is_some());
        let symbols = symbols(&data).unwrap();
        assert!(symbols.windows(2).all(|w| w[0].0 <= w[1].0));
        assert!(symbols.iter().any(|(_, name)| name.contains("code_start")));
    }
}
