//! The chat template from the model's metadata (`tokenizer.chat_template`, Jinja), rendered
//! with `minijinja` — the template the model was fine-tuned with, not a guess at it.

use dfma_reference::gguf::Gguf;
use serde::Serialize;

use super::error::ModelError;

/// One turn of a conversation.
#[derive(Clone, Debug, Serialize)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

/// The model's chat template, or `None` when the file has none (a base model).
pub fn template(g: &Gguf) -> Option<&str> {
    g.get("tokenizer.chat_template").and_then(|v| v.as_str())
}

/// Renders `messages` with `template`, ending with the assistant's turn opened.
pub fn render(template: &str, messages: &[Message]) -> Result<String, ModelError> {
    let mut env = minijinja::Environment::new();
    let bad = |e: minijinja::Error| ModelError::metadata("tokenizer.chat_template", e.to_string());
    env.add_template("chat", template).map_err(bad)?;
    let t = env.get_template("chat").map_err(bad)?;
    t.render(minijinja::context! { messages => messages, add_generation_prompt => true }).map_err(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chatml_template_renders_the_turns_and_opens_the_assistant_s() {
        let t = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}\
                 {% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
        let out = render(t, &[Message { role: "user".into(), content: "Hi".into() }]).unwrap();
        assert_eq!(out, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    }

    #[test]
    fn a_broken_template_is_an_error_naming_the_key() {
        let e = render("{% for %}", &[]).unwrap_err();
        assert!(e.to_string().starts_with("metadata tokenizer.chat_template"), "{e}");
    }
}
