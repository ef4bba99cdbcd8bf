"""``grader audit``: mutation testing of a rubric against its reference.

The reference's code for each automatic answer is mutated by operators that model
students' errors (:mod:`grader.audit.mutants`), each mutant is graded by the rubric's own
check as a student's answer would be (:mod:`grader.audit.run`), and the report
(:mod:`grader.audit.report`) says per question how many mutants the rubric kills and
shows each survivor as a diff with an input on which it differs from the reference.
"""
