"""A controlled language-model world: small Llama models pretrained here on a generated corpus, so that true
siblings (same architecture, data and tokenizer; another initialisation) exist, which no pretrained LM offers."""
