//! Tokens → formatted Rust source: `syn` parses, `prettyplease` prints. Same tokens, same
//! bytes, so checked-in output can be compared exactly.

use proc_macro2::TokenStream;

/// Formats one generated file with its header comment.
pub fn file(header: &str, tokens: TokenStream) -> Result<String, String> {
    let file: syn::File = syn::parse2(tokens)
        .map_err(|e| format!("internal error: generated code does not parse: {e}"))?;
    Ok(format!(
        "{header}\n{}",
        space_items(&prettyplease::unparse(&file))
    ))
}

/// prettyplease packs items together; put a blank line after each closing brace that ends an
/// item and after the imports, as a person would write it.
fn space_items(code: &str) -> String {
    let mut out = String::with_capacity(code.len() + code.len() / 16);
    let mut previous = "";
    for line in code.lines() {
        let trimmed = line.trim_start();
        let starts_item = trimmed.starts_with("///")
            || trimmed.starts_with("#[")
            || trimmed.starts_with("pub ")
            || trimmed.starts_with("fn ")
            || trimmed.starts_with("impl")
            || trimmed.starts_with("use ");
        let ends_item = previous.trim() == "}"
            || (previous.trim_start().starts_with("use ") && !trimmed.starts_with("use "))
            || previous.trim_start().starts_with("#![");
        if starts_item && ends_item {
            out.push('\n');
        }
        out.push_str(line);
        out.push('\n');
        previous = line;
    }
    out
}
