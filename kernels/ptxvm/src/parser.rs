//! PTX text → [`crate::ast::Module`]. Accepts the directives our kernels and nvcc emit
//! (`.version/.target/.address_size`, `.entry/.func` with parameters, `.reg/.shared/.local/.const`
//! with vectors, arrays and `%r<N>` ranges, labels, guards); anything else is an error that names
//! `file:line`.

use crate::ast::{Function, Instr, Module, Operand, RegDecl, Stmt, VarDecl};
use crate::error::ParseError;
use crate::lexer::{Tok, Token, lex};

struct Cursor<'a> {
    file: &'a str,
    toks: Vec<Token>,
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    fn peek_at(&self, k: usize) -> Option<&Tok> {
        self.toks.get(self.pos + k).map(|t| &t.tok)
    }

    fn line(&self) -> u32 {
        self.toks.get(self.pos).or(self.toks.last()).map_or(1, |t| t.line)
    }

    fn err(&self, msg: impl Into<String>) -> ParseError {
        ParseError::new(self.file, self.line(), msg)
    }

    fn next(&mut self) -> Result<Tok, ParseError> {
        let t = self.toks.get(self.pos).map(|t| t.tok.clone()).ok_or_else(|| self.err("unexpected end of file"))?;
        self.pos += 1;
        Ok(t)
    }

    fn is_punct(&self, c: char) -> bool {
        self.peek() == Some(&Tok::Punct(c))
    }

    fn eat_punct(&mut self, c: char) -> bool {
        if self.is_punct(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_punct(&mut self, c: char) -> Result<(), ParseError> {
        if self.eat_punct(c) { Ok(()) } else { Err(self.err(format!("expected '{c}', found {:?}", self.peek()))) }
    }

    fn word(&mut self) -> Result<String, ParseError> {
        match self.next()? {
            Tok::Word(w) => Ok(w),
            t => {
                self.pos -= 1;
                Err(self.err(format!("expected a name, found {t:?}")))
            }
        }
    }

    fn num(&mut self) -> Result<String, ParseError> {
        let neg = self.eat_punct('-');
        match self.next()? {
            Tok::Num(n) => Ok(if neg { format!("-{n}") } else { n }),
            t => Err(self.err(format!("expected a number, found {t:?}"))),
        }
    }

    fn peek_word(&self) -> Option<&str> {
        match self.peek() {
            Some(Tok::Word(w)) => Some(w),
            _ => None,
        }
    }

    /// Skips to just after the next `;` on the current statement.
    fn skip_statement(&mut self) -> Result<(), ParseError> {
        while !self.eat_punct(';') {
            self.next()?;
        }
        Ok(())
    }

    /// Skips the rest of the current source line (for `.file`, `.loc`).
    fn skip_line(&mut self) {
        let line = self.toks[self.pos.saturating_sub(1)].line;
        while self.toks.get(self.pos).is_some_and(|t| t.line == line) {
            self.pos += 1;
        }
    }
}

/// Parses one PTX file.
pub fn parse(file: &str, text: &str) -> Result<Module, ParseError> {
    let mut c = Cursor { file, toks: lex(file, text)?, pos: 0 };
    let mut m = Module { file: file.to_string(), ..Module::default() };
    let mut external = false;
    while let Some(tok) = c.peek().cloned() {
        let Tok::Word(w) = tok else {
            return Err(c.err(format!("unexpected {tok:?} at module scope")));
        };
        match w.as_str() {
            ".version" | ".address_size" => {
                c.pos += 1;
                c.num()?;
            }
            ".target" => {
                c.pos += 1;
                c.word()?;
                while c.eat_punct(',') {
                    c.word()?;
                }
            }
            ".file" | ".loc" | ".section" => {
                c.pos += 1;
                c.skip_line();
            }
            ".visible" | ".weak" | ".common" => c.pos += 1,
            ".extern" => {
                c.pos += 1;
                external = true;
            }
            ".entry" | ".func" => {
                c.pos += 1;
                m.functions.push(function(&mut c, w == ".entry")?);
                external = false;
            }
            ".global" | ".const" | ".shared" => {
                let mut v = var_decl(&mut c)?;
                v.external = external;
                external = false;
                m.vars.push(v);
                c.expect_punct(';')?;
            }
            _ => return Err(c.err(format!("unsupported: {w}"))),
        }
    }
    Ok(m)
}

/// `.space [.align N] [.ptr ...] .type name[dims] [= init]` without the trailing `;` or `,`.
fn var_decl(c: &mut Cursor) -> Result<VarDecl, ParseError> {
    let line = c.line();
    let space = c.word()?;
    let (mut ty, mut align) = (String::new(), None);
    loop {
        match c.peek_word() {
            Some(".align") => {
                c.pos += 1;
                let n = c.num()?;
                align = Some(parse_u64(c, &n)?);
            }
            Some(".ptr" | ".global" | ".shared" | ".const" | ".local") if !ty.is_empty() || space == ".param" => {
                c.pos += 1;
            }
            Some(v @ (".v2" | ".v4" | ".v8")) => return Err(c.err(format!("unsupported: vector variable {v}"))),
            Some(w) if w.starts_with('.') => {
                ty = w.to_string();
                c.pos += 1;
            }
            _ => break,
        }
    }
    if ty.is_empty() {
        return Err(c.err(format!("{space} declaration without a type")));
    }
    let name = c.word()?;
    let mut elems = 1u64;
    while c.eat_punct('[') {
        if c.eat_punct(']') {
            elems = 0;
            continue;
        }
        let n = c.num()?;
        elems *= parse_u64(c, &n)?;
        c.expect_punct(']')?;
    }
    let mut init = Vec::new();
    if c.eat_punct('=') {
        let mut depth = 0;
        loop {
            match c.peek() {
                Some(Tok::Punct('{')) => depth += 1,
                Some(Tok::Punct('}')) => depth -= 1,
                Some(Tok::Punct(',')) if depth == 0 => break,
                Some(Tok::Punct(';')) | None => break,
                Some(Tok::Punct('-')) => {
                    init.push(c.num()?);
                    continue;
                }
                Some(Tok::Num(n)) => init.push(n.clone()),
                Some(Tok::Punct(',')) => {}
                Some(t) => return Err(c.err(format!("unsupported initializer {t:?}"))),
            }
            c.pos += 1;
        }
    }
    Ok(VarDecl { space, ty, name, elems, align, init, external: false, line })
}

fn parse_u64(c: &Cursor, s: &str) -> Result<u64, ParseError> {
    crate::literal::parse_int(s).map(|v| v as u64).ok_or_else(|| c.err(format!("bad number {s}")))
}

fn param_list(c: &mut Cursor) -> Result<Vec<VarDecl>, ParseError> {
    let mut out = Vec::new();
    c.expect_punct('(')?;
    if c.eat_punct(')') {
        return Ok(out);
    }
    loop {
        out.push(var_decl(c)?);
        if c.eat_punct(')') {
            return Ok(out);
        }
        c.expect_punct(',')?;
    }
}

fn function(c: &mut Cursor, entry: bool) -> Result<Function, ParseError> {
    let line = c.line();
    let mut rets = Vec::new();
    if c.is_punct('(') {
        rets = param_list(c)?;
    }
    let name = c.word()?;
    let params = if c.is_punct('(') { param_list(c)? } else { Vec::new() };
    // Performance directives (.maxntid 128, 1, 1; .reqntid; .minnctapersm; .maxnreg; .noreturn).
    while !c.is_punct('{') && !c.is_punct(';') {
        c.next()?;
    }
    let mut f = Function { name, entry, line, rets, params, regs: Vec::new(), vars: Vec::new(), body: None };
    if c.eat_punct(';') {
        return Ok(f);
    }
    c.expect_punct('{')?;
    let mut body = Vec::new();
    let mut depth = 1;
    while depth > 0 {
        match c.peek().cloned() {
            None => return Err(c.err(format!("function {} is not closed", f.name))),
            Some(Tok::Punct('{')) => {
                c.pos += 1;
                depth += 1;
            }
            Some(Tok::Punct('}')) => {
                c.pos += 1;
                depth -= 1;
            }
            Some(Tok::Punct('@')) => body.push(Stmt::Instr(instruction(c)?)),
            Some(Tok::Word(w)) => {
                if c.peek_at(1) == Some(&Tok::Punct(':')) {
                    body.push(Stmt::Label(w.clone(), c.line()));
                    c.pos += 2;
                } else if w.starts_with('.') {
                    body_directive(c, &mut f, &w)?;
                } else {
                    body.push(Stmt::Instr(instruction(c)?));
                }
            }
            Some(t) => return Err(c.err(format!("unexpected {t:?} in function body"))),
        }
    }
    f.body = Some(body);
    Ok(f)
}

fn body_directive(c: &mut Cursor, f: &mut Function, w: &str) -> Result<(), ParseError> {
    match w {
        ".reg" => {
            let line = c.line();
            c.pos += 1;
            let mut ty = c.word()?;
            if matches!(ty.as_str(), ".v2" | ".v4" | ".v8") {
                return Err(c.err(format!("unsupported: vector register .reg {ty}")));
            }
            if ty == ".align" {
                c.num()?;
                ty = c.word()?;
            }
            loop {
                let name = c.word()?;
                let count = if c.eat_punct('<') {
                    let n = c.num()?;
                    c.expect_punct('>')?;
                    Some(parse_u64(c, &n)? as u32)
                } else {
                    None
                };
                f.regs.push(RegDecl { ty: ty.clone(), name, count, line });
                if c.eat_punct(';') {
                    return Ok(());
                }
                c.expect_punct(',')?;
            }
        }
        ".shared" | ".local" | ".const" | ".param" | ".global" => {
            let v = var_decl(c)?;
            f.vars.push(v);
            c.expect_punct(';')
        }
        ".pragma" => c.skip_statement(),
        ".loc" | ".file" => {
            c.pos += 1;
            c.skip_line();
            Ok(())
        }
        _ => Err(c.err(format!("unsupported: {w}"))),
    }
}

fn instruction(c: &mut Cursor) -> Result<Instr, ParseError> {
    let line = c.line();
    let guard = if c.eat_punct('@') {
        let neg = c.eat_punct('!');
        Some((c.word()?, neg))
    } else {
        None
    };
    let opcode = c.word()?;
    let mut operands = Vec::new();
    let mut syntax_error = None;
    if !c.eat_punct(';') {
        loop {
            match operand(c).and_then(|o| {
                operands.push(o);
                if c.eat_punct(';') { Ok(true) } else { c.expect_punct(',').map(|_| false) }
            }) {
                Ok(true) => break,
                Ok(false) => {}
                Err(e) => {
                    syntax_error = Some(e.msg);
                    c.skip_statement()?;
                    break;
                }
            }
        }
    }
    Ok(Instr { line, guard, opcode, operands, syntax_error })
}

fn operand(c: &mut Cursor) -> Result<Operand, ParseError> {
    match c.peek().cloned() {
        Some(Tok::Punct(open @ ('{' | '('))) => {
            c.pos += 1;
            let close = if open == '{' { '}' } else { ')' };
            let mut items = Vec::new();
            if c.eat_punct(close) {
                return Ok(Operand::List(items));
            }
            loop {
                items.push(operand(c)?);
                if c.eat_punct(close) {
                    return Ok(Operand::List(items));
                }
                c.expect_punct(',')?;
            }
        }
        Some(Tok::Punct('[')) => {
            c.pos += 1;
            let base = match c.peek() {
                Some(Tok::Word(_)) => Operand::Name(c.word()?),
                _ => Operand::Num(c.num()?),
            };
            let mut offset = 0i64;
            while !c.eat_punct(']') {
                let neg = if c.eat_punct('+') { false } else { c.eat_punct('-') || return Err(c.err("bad address")) };
                let n = c.num()?;
                let v = crate::literal::parse_int(&n).ok_or_else(|| c.err(format!("bad offset {n}")))? as i64;
                offset = offset.wrapping_add(if neg { v.wrapping_neg() } else { v });
            }
            Ok(Operand::Addr(Box::new(base), offset))
        }
        Some(Tok::Punct('!')) => {
            c.pos += 1;
            Ok(Operand::Not(c.word()?))
        }
        Some(Tok::Punct('-') | Tok::Num(_)) => Ok(Operand::Num(c.num()?)),
        Some(Tok::Word(_)) => {
            let w = c.word()?;
            if c.eat_punct('|') { Ok(Operand::Pair(w, c.word()?)) } else { Ok(Operand::Name(w)) }
        }
        t => Err(c.err(format!("unexpected operand {t:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_q8_0_gemv_header_params_and_register_ranges_parse() {
        let src = ".version 8.0\n.target sm_80\n.address_size 64\n.visible .entry k(.param .u64 p, .param .u32 n)\n\
                   .maxntid 128, 1, 1\n{\n.reg .pred %p<8>;\n.reg .b32 %r<4>, %x;\n.shared .align 16 .b8 s[64][2];\n\
                   L: @!%p1 bra L;\nld.global.nc.v4.u32 {%r1, %r2, %r3, %r0}, [%rd1+-16];\nret;\n}\n";
        let m = parse("k.ptx", src).unwrap();
        let f = &m.functions[0];
        assert!(f.entry);
        assert_eq!(f.params.len(), 2);
        assert_eq!(f.regs.len(), 3);
        assert_eq!(f.regs[0].count, Some(8));
        assert_eq!(f.vars[0].elems, 128);
        let body = f.body.as_ref().unwrap();
        assert!(matches!(&body[0], Stmt::Label(l, 10) if l == "L"));
        let Stmt::Instr(ld) = &body[2] else { panic!() };
        assert_eq!(ld.operands[1], Operand::Addr(Box::new(Operand::Name("%rd1".into())), -16));
    }

    #[test]
    fn an_unknown_module_directive_is_reported_with_its_line() {
        let e = parse("bad.ptx", ".version 8.0\n.texref t;\n").unwrap_err();
        assert_eq!(e.to_string(), "unsupported: .texref at bad.ptx:2");
    }
}
