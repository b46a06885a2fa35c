"""Judge prompt templates (``str.format`` with named fields; ``{low}``/``{high}`` are the score scale).

They end by opening the JSON object so that a base model continues it; a grammar or response_format
keeps the output inside the schema.  Their hashes travel with every verdict and calibration.
"""

GRADE = """You are grading an answer against a reference answer.
Question: {question}
Reference answer: {reference}
Rubric: {rubric}
Answer to grade: {answer}

Give a score from {low} (wrong) to {high} (fully correct and consistent with the reference), a verdict (pass or fail), and a short reason.
JSON: """

STYLE = """You are checking whether an answer follows a required format.
Question (with the format instruction): {question}
Format rubric: {rubric}
Answer: {answer}

Give a score from {low} (ignores the format) to {high} (follows it exactly), a verdict (pass or fail), and a short reason.
JSON: """

PAIRWISE = """Which answer to the question is better: more correct, more helpful, more faithful to the instruction?
Question: {question}

Answer A: {answer_a}

Answer B: {answer_b}

Reply with the winner (A, B or tie) and a short reason.
JSON: """

FAITHFUL = """Source document:
{context}

Claim (a summary or answer based on the source): {answer}

Is every statement in the claim supported by the source document? Reply with verdict yes (fully supported) or no (contains unsupported or contradicted information), and a short reason.
JSON: """

HALLUCINATION = """Question: {question}
Answer: {answer}

Does the answer contain information that is made up, false or not verifiable? Reply with verdict yes (hallucinated) or no, and a short reason.
JSON: """
