//! Verifiable reasoning tasks: each kind generates questions with a known answer at a tunable
//! difficulty and checks a free-text response with an executable checker, so an instance can
//! keep its own correct answers as training data and every accuracy is exact.
//!
//! Questions are rendered as `Question: …\nAnswer:` and answers as ` <answer>` followed by a
//! newline (the format the base model already completes tersely). A checker reads the first
//! line of the response only.

use rand::Rng;
use rand::rngs::StdRng;

/// A family of tasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TaskKind {
    /// a + b with `difficulty`-digit operands.
    Add,
    /// The larger of two distinct `difficulty`-digit numbers.
    Compare,
    /// `difficulty + 2` single-digit numbers, ascending.
    Sort,
    /// A length in metres, kilometres or centimetres converted to the next unit down (×100,
    /// ×1000, ×10), the amount having `difficulty` digits.
    Convert,
    /// A length in centimetres, metres or millimetres converted to the next unit up (÷100,
    /// ÷1000, ÷10), the answer having `difficulty` digits: the inverse of [`TaskKind::Convert`].
    ConvertUp,
    /// The last digit of a `difficulty + 2`-digit number.
    LastDigit,
    /// The smaller of two distinct `difficulty`-digit numbers.
    Smaller,
    /// a − b, a > b, with `difficulty`-digit operands.
    Subtract,
    /// Twice a `difficulty`-digit number.
    Double,
    /// How many digits a number of `difficulty + 1` to `difficulty + 4` digits has.
    Digits,
}

/// One question and its answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    /// The family.
    pub kind: TaskKind,
    /// The question's text (without the `Question:` frame).
    pub question: String,
    /// The reference answer, canonical form.
    pub answer: String,
}

impl TaskKind {
    /// Every kind, in a fixed order.
    pub const ALL: [TaskKind; 10] = [
        TaskKind::Add,
        TaskKind::Compare,
        TaskKind::Sort,
        TaskKind::Convert,
        TaskKind::ConvertUp,
        TaskKind::LastDigit,
        TaskKind::Smaller,
        TaskKind::Subtract,
        TaskKind::Double,
        TaskKind::Digits,
    ];

    /// The kind's name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            TaskKind::Add => "add",
            TaskKind::Compare => "compare",
            TaskKind::Sort => "sort",
            TaskKind::Convert => "convert",
            TaskKind::ConvertUp => "convert-up",
            TaskKind::LastDigit => "last-digit",
            TaskKind::Smaller => "smaller",
            TaskKind::Subtract => "subtract",
            TaskKind::Double => "double",
            TaskKind::Digits => "digits",
        }
    }

    /// The kind called `name`, or an error listing the known ones.
    pub fn parse(name: &str) -> Result<TaskKind, String> {
        TaskKind::ALL.into_iter().find(|k| k.name() == name).ok_or_else(|| {
            let known: Vec<&str> = TaskKind::ALL.iter().map(|k| k.name()).collect();
            format!("unknown task {name:?} (have {})", known.join(", "))
        })
    }

    /// A fresh question at `difficulty` (≥ 1).
    pub fn generate(self, difficulty: u32, rng: &mut StdRng) -> Task {
        let d = difficulty.clamp(1, 6);
        let number = |rng: &mut StdRng| -> u64 {
            let lo = if d == 1 { 1 } else { 10u64.pow(d - 1) };
            rng.random_range(lo..10u64.pow(d))
        };
        let (question, answer) = match self {
            TaskKind::Add => {
                let (a, b) = (number(rng), number(rng));
                (format!("What is {a} + {b}?"), (a + b).to_string())
            }
            TaskKind::Compare | TaskKind::Smaller => {
                let a = number(rng);
                let b = loop {
                    let b = number(rng);
                    if b != a {
                        break b;
                    }
                };
                if self == TaskKind::Compare {
                    (format!("Which is larger, {a} or {b}?"), a.max(b).to_string())
                } else {
                    (format!("Which is smaller, {a} or {b}?"), a.min(b).to_string())
                }
            }
            TaskKind::Sort => {
                let mut v: Vec<u64> = (0..d + 2).map(|_| rng.random_range(0..10)).collect();
                let q = v.iter().map(u64::to_string).collect::<Vec<_>>().join(" ");
                v.sort_unstable();
                (
                    format!("Sort from smallest to largest: {q}"),
                    v.iter().map(u64::to_string).collect::<Vec<_>>().join(" "),
                )
            }
            TaskKind::Convert | TaskKind::ConvertUp => {
                let n = number(rng);
                let (small, large, factor) = [
                    ("centimeters", "meters", 100),
                    ("meters", "kilometers", 1000),
                    ("millimeters", "centimeters", 10),
                ][rng.random_range(0..3)];
                if self == TaskKind::Convert {
                    (format!("How many {small} are in {n} {large}?"), (n * factor).to_string())
                } else {
                    (format!("How many {large} are in {} {small}?", n * factor), n.to_string())
                }
            }
            TaskKind::LastDigit => {
                let n = rng.random_range(10u64.pow(d + 1)..10u64.pow(d + 2));
                (format!("What is the last digit of {n}?"), (n % 10).to_string())
            }
            TaskKind::Subtract => {
                let (a, b) = loop {
                    let (a, b) = (number(rng), number(rng));
                    if a != b {
                        break (a.max(b), a.min(b));
                    }
                };
                (format!("What is {a} - {b}?"), (a - b).to_string())
            }
            TaskKind::Double => {
                let n = number(rng);
                (format!("What is twice {n}?"), (2 * n).to_string())
            }
            TaskKind::Digits => {
                let len = d + rng.random_range(1..=4);
                let n = rng.random_range(10u64.pow(len - 1)..10u64.pow(len));
                (format!("How many digits does {n} have?"), len.to_string())
            }
        };
        Task { kind: self, question, answer }
    }
}

/// The integers in `text`, in order (runs of ASCII digits; separators and signs ignored).
fn integers(text: &str) -> Vec<u64> {
    text.split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty() && s.len() <= 18)
        .filter_map(|s| s.parse().ok())
        .collect()
}

impl Task {
    /// The prompt fed to the model.
    pub fn prompt(&self) -> String {
        format!("Question: {}\nAnswer:", self.question)
    }

    /// The answer as the model should continue the prompt (a space, the answer, a newline).
    pub fn completion(&self) -> String {
        format!(" {}\n", self.answer)
    }

    /// Whether `response`'s first line answers correctly: the same integers as the reference
    /// (for sorting, all of them in order; otherwise the first one).
    pub fn check(&self, response: &str) -> bool {
        let line = response.trim_start().lines().next().unwrap_or("");
        let (got, want) = (integers(line), integers(&self.answer));
        match self.kind {
            TaskKind::Sort => got == want,
            _ => got.first() == want.first() && !got.is_empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn checkers_accept_the_reference_answer_and_reject_others() {
        let mut rng = StdRng::seed_from_u64(5);
        for kind in TaskKind::ALL {
            for d in 1..=3 {
                let t = kind.generate(d, &mut rng);
                assert!(t.check(&t.completion()), "{t:?}");
                assert!(t.check(&format!("{}.\nmore text 12345", t.answer)), "{t:?}");
                assert!(!t.check(""), "{t:?}");
                assert!(!t.check(&format!("\n{}", t.answer.replace('1', "2").replace('0', "1") + "9")), "{t:?}");
            }
        }
        let t = Task { kind: TaskKind::Sort, question: String::new(), answer: "1 3 3 8".into() };
        assert!(t.check(" 1, 3, 3, 8") && !t.check(" 1 3 8") && !t.check(" 8 3 3 1"));
        assert_eq!(TaskKind::parse("sort"), Ok(TaskKind::Sort));
        assert!(
            TaskKind::parse("poetry")
                .unwrap_err()
                .contains("unknown task \"poetry\" (have add, compare, sort, convert, convert-up, last-digit, smaller, subtract, double, digits)")
        );
    }
}
