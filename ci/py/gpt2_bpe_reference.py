"""An independent byte-level BPE tokenizer over a GGUF file's metadata, in plain Python, to check
dfma's tokenizer (built with the `tokenizers` crate) token for token.

usage: gpt2_bpe_reference.py MODEL.gguf < texts.json > ids.json
stdin: a JSON list of strings; stdout: a JSON list of token-id lists, one per text.

It reads tokenizer.ggml.{model,pre,tokens,token_type,merges} with the `gguf` package and follows
llama.cpp's order for the "smollm" family: control and user-defined tokens cut out of the text
(leftmost, longest first), every numeric character isolated, then GPT-2's split
    's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+
written out as explicit character-class code over `unicodedata` (no regex engine), GPT-2's byte
alphabet, and merges applied lowest rank first; a byte without a token blocks merges across it and
is left out. No BOS/EOS is added.
"""
import json
import sys
import unicodedata

from gguf import GGUFReader

DIGITS_FIRST = {"smollm", "starcoder", "refact", "codeshell", "command-r"}
GPT2_ONLY = {"gpt-2", "mpt", "olmo", "phi-2"}
CONTROL, USER_DEFINED = 3, 4

# Unicode's White_Space property (what `\s` means in Rust's regex and in llama.cpp).
WHITE_SPACE = set("\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | {
    chr(c) for c in range(0x2000, 0x200B)
}


def is_letter(c):
    return unicodedata.category(c).startswith("L")


def is_number(c):
    return unicodedata.category(c).startswith("N")


def is_space(c):
    return c in WHITE_SPACE


def is_other(c):
    return not (is_space(c) or is_letter(c) or is_number(c))


CONTRACTIONS = ("'s", "'t", "'re", "'ve", "'m", "'ll", "'d")


def gpt2_split(s):
    """The words of GPT-2's regex, tried alternative by alternative at each position."""
    out, i, n = [], 0, len(s)

    def run(j, pred):
        while j < n and pred(s[j]):
            j += 1
        return j

    while i < n:
        c = s[i]
        end = None
        for k in CONTRACTIONS:
            if s.startswith(k, i):
                end = i + len(k)
                break
        if end is None:
            # ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+': an optional literal space, then a run.
            for pred in (is_letter, is_number, is_other):
                if c == " " and i + 1 < n and pred(s[i + 1]):
                    end = run(i + 1, pred)
                    break
                if pred(c):
                    end = run(i, pred)
                    break
        if end is None:
            # c is white space. '\s+(?!\S)': the run, less its last character when a non-space
            # follows; a single space before a non-space falls through to '\s+'.
            j = run(i, is_space)
            if j == n or j - i == 1:
                end = j
            else:
                end = j - 1
        out.append(s[i:end])
        i = end
    return out


def isolate_numbers(s):
    """Pieces of s with every numeric character alone (llama.cpp's first regex, '\\p{N}')."""
    pieces, cur = [], ""
    for c in s:
        if is_number(c):
            if cur:
                pieces.append(cur)
            pieces.append(c)
            cur = ""
        else:
            cur += c
    if cur:
        pieces.append(cur)
    return pieces


def byte_alphabet():
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(0x100 + extra)
            extra += 1
    return table


def read_strings(field):
    return [bytes(field.parts[i]).decode("utf-8") for i in field.data]


class Reference:
    def __init__(self, path):
        r = GGUFReader(path)
        f = r.fields
        model = bytes(f["tokenizer.ggml.model"].parts[-1]).decode()
        pre = bytes(f["tokenizer.ggml.pre"].parts[-1]).decode()
        if model != "gpt2":
            raise SystemExit(f"tokenizer.ggml.model {model!r} is not byte-level BPE")
        if pre not in DIGITS_FIRST | GPT2_ONLY:
            raise SystemExit(f"tokenizer.ggml.pre {pre!r} is not reproduced here")
        self.digits_first = pre in DIGITS_FIRST
        self.tokens = read_strings(f["tokenizer.ggml.tokens"])
        types_field = f.get("tokenizer.ggml.token_type")
        types = [int(types_field.parts[i][0]) for i in types_field.data] if types_field else [1] * len(self.tokens)
        self.ids = {t: i for i, t in enumerate(self.tokens)}
        self.ranks = {}
        for rank, m in enumerate(read_strings(f["tokenizer.ggml.merges"])):
            at = m.index(" ", 1)
            self.ranks.setdefault((m[:at], m[at + 1 :]), rank)
        specials = [t for t, ty in zip(self.tokens, types) if ty in (CONTROL, USER_DEFINED)]
        self.specials = sorted(specials, key=len, reverse=True)
        self.bytes = byte_alphabet()

    def bpe(self, word):
        parts = [self.bytes[b] for b in word.encode("utf-8")]
        while len(parts) > 1:
            best, at = None, None
            for k in range(len(parts) - 1):
                r = self.ranks.get((parts[k], parts[k + 1]))
                if r is not None and (best is None or r < best):
                    best, at = r, k
            if best is None:
                break
            parts[at : at + 2] = [parts[at] + parts[at + 1]]
        # A character without a token (SmolLM2 has none for byte 0x04, for one) stayed a symbol that
        # no merge joins; like llama.cpp, leave it out.
        return [self.ids[p] for p in parts if p in self.ids]

    def encode_plain(self, text):
        pieces = isolate_numbers(text) if self.digits_first else [text]
        return [i for piece in pieces for word in gpt2_split(piece) for i in self.bpe(word)]

    def encode(self, text):
        out, start, i = [], 0, 0
        while i < len(text):
            hit = next((s for s in self.specials if text.startswith(s, i)), None)
            if hit is None:
                i += 1
                continue
            out += self.encode_plain(text[start:i])
            out.append(self.ids[hit])
            i += len(hit)
            start = i
        out += self.encode_plain(text[start:])
        return out


def main(path):
    ref = Reference(path)
    texts = json.load(sys.stdin)
    json.dump([ref.encode(t) for t in texts], sys.stdout)
    print()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(sys.argv[1])
