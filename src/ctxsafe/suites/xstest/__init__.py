"""XSTest: text over-refusal, safe prompts that sound unsafe and their unsafe contrast prompts."""
