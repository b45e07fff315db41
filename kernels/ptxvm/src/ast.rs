//! The syntax tree of a PTX module: what the text says, before any meaning is given to it.
//! [`crate::decode`] turns it into the compact executable form.

/// One operand as written.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    /// A register, special register, variable, label or function name.
    Name(String),
    /// A numeric literal (sign included).
    Num(String),
    /// `!%p`: a negated predicate.
    Not(String),
    /// `%p|%q`: setp's two predicate destinations; shfl's value and predicate.
    Pair(String, String),
    /// `[base+offset]`; base is a name or a literal.
    Addr(Box<Operand>, i64),
    /// `{a, b, c, d}` or `(a, b)`: vector operands, call argument lists.
    List(Vec<Operand>),
}

/// One instruction statement.
#[derive(Clone, Debug)]
pub struct Instr {
    /// Source line.
    pub line: u32,
    /// `@%p` (false) or `@!%p` (true).
    pub guard: Option<(String, bool)>,
    /// The dotted opcode, e.g. `ld.global.nc.v4.u32`.
    pub opcode: String,
    /// Operands in order.
    pub operands: Vec<Operand>,
    /// Operands that did not parse (reported as a syntax error if the opcode is known, as
    /// "unsupported" otherwise).
    pub syntax_error: Option<String>,
}

/// A statement of a function body.
#[derive(Clone, Debug)]
pub enum Stmt {
    /// `NAME:`.
    Label(String, u32),
    /// An instruction.
    Instr(Instr),
}

/// `.reg .b32 %r<48>;` or `.reg .pred %p, %q;` (one entry per name).
#[derive(Clone, Debug)]
pub struct RegDecl {
    /// Type, e.g. `.b32`.
    pub ty: String,
    /// Name, e.g. `%r`.
    pub name: String,
    /// `<N>`: declares `name0 .. name{N-1}`.
    pub count: Option<u32>,
    /// Source line.
    pub line: u32,
}

/// A variable in a state space: `.shared .align 16 .b8 tile[1024];`, a kernel parameter.
#[derive(Clone, Debug)]
pub struct VarDecl {
    /// `.shared`, `.local`, `.const`, `.global`, `.param`, `.reg`.
    pub space: String,
    /// Element type, e.g. `.b8`.
    pub ty: String,
    /// Name.
    pub name: String,
    /// Elements (product of the array dimensions; 1 for a scalar; 0 for `[]`).
    pub elems: u64,
    /// `.align N`.
    pub align: Option<u64>,
    /// Initializer literals, flattened.
    pub init: Vec<String>,
    /// `.extern`.
    pub external: bool,
    /// Source line.
    pub line: u32,
}

/// A `.entry` or `.func`.
#[derive(Clone, Debug)]
pub struct Function {
    /// Name.
    pub name: String,
    /// `.entry` (a kernel) rather than `.func`.
    pub entry: bool,
    /// Source line of the header.
    pub line: u32,
    /// Return parameters of a `.func`.
    pub rets: Vec<VarDecl>,
    /// Parameters.
    pub params: Vec<VarDecl>,
    /// Register declarations.
    pub regs: Vec<RegDecl>,
    /// Variables declared in the body (`.shared`, `.local`, `.const`, call-site `.param`).
    pub vars: Vec<VarDecl>,
    /// Statements; `None` for a prototype without a body.
    pub body: Option<Vec<Stmt>>,
}

/// A parsed module.
#[derive(Clone, Debug, Default)]
pub struct Module {
    /// File name, for messages.
    pub file: String,
    /// Module-scope variables (`.global`, `.const`, `.shared`).
    pub vars: Vec<VarDecl>,
    /// Functions and kernels.
    pub functions: Vec<Function>,
}
