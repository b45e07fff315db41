//! Tokens of PTX text, each with the line it came from so every later error can name
//! `file:line`.

use crate::error::ParseError;

/// One token.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// An identifier, register, directive or opcode: `%r1`, `.reg`, `ld.global.v4.u32`, `DONE`.
    Word(String),
    /// A numeric literal as written: `16`, `0xffffffff`, `0f3F800000`, `-1`, `1.5`.
    Num(String),
    /// One punctuation character: `{ } [ ] ( ) , ; : @ ! + - < > = |`.
    Punct(char),
}

/// A token and its 1-based line.
#[derive(Clone, Debug)]
pub struct Token {
    /// The token.
    pub tok: Tok,
    /// Source line.
    pub line: u32,
}

fn is_word_start(c: char) -> bool {
    c.is_ascii_alphabetic() || matches!(c, '_' | '$' | '%' | '.')
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '%' | '.')
}

/// Splits PTX text into tokens, dropping `//` and `/* */` comments.
pub fn lex(file: &str, text: &str) -> Result<Vec<Token>, ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1u32;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                if chars[i] == '\n' {
                    line += 1;
                }
                i += 1;
            }
            i += 2;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                // A float literal's exponent sign: 1.5e-3.
                if matches!(chars[i], 'e' | 'E')
                    && matches!(chars.get(i + 1), Some('+' | '-'))
                    && !chars[start..i].iter().any(|c| matches!(c, 'x' | 'X' | 'f' | 'F' | 'd' | 'D'))
                {
                    i += 1;
                }
                i += 1;
            }
            out.push(Token { tok: Tok::Num(chars[start..i].iter().collect()), line });
        } else if is_word_start(c) {
            let start = i;
            while i < chars.len() && is_word_char(chars[i]) {
                i += 1;
            }
            out.push(Token { tok: Tok::Word(chars[start..i].iter().collect()), line });
        } else if "{}[](),;:@!+-<>=|".contains(c) {
            out.push(Token { tok: Tok::Punct(c), line });
            i += 1;
        } else if c == '"' {
            // Strings only appear in directives we skip (.file, .pragma); keep them as one word.
            let start = i;
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += 1;
            }
            i += 1;
            out.push(Token { tok: Tok::Word(chars[start..i.min(chars.len())].iter().collect()), line });
        } else {
            return Err(ParseError::new(file, line, format!("unexpected character {c:?}")));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexing_keeps_dotted_opcodes_whole_and_counts_lines_through_comments() {
        let toks = lex("t.ptx", "/* a\n b */ ld.global.v4.u32 {%r1}, [%rd2+16]; // x\n@!%p1 bra L;").unwrap();
        assert_eq!(toks[0].tok, Tok::Word("ld.global.v4.u32".into()));
        assert_eq!(toks[0].line, 2);
        let at = toks.iter().position(|t| t.tok == Tok::Punct('@')).unwrap();
        assert_eq!(toks[at].line, 3);
        assert!(toks.iter().any(|t| t.tok == Tok::Num("16".into())));
    }
}
