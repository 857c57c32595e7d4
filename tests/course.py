"""The course's published figures, in one place: what any correct implementation reproduces.

From the "Logistic Regression with a Neural Network mindset" notebook, on the cat / non-cat
set, w = 0 and b = 0, pixels divided by 255, learning rate 0.005, 2000 iterations.
"""

LEARNING_RATE = 0.005
NUM_ITERATIONS = 2000
# "Cost after iteration i" for i = 0, 100, ..., 1900, as the notebook prints them.
COSTS = [
    0.693147,
    0.584508,
    0.466949,
    0.376007,
    0.331463,
    0.303273,
    0.279880,
    0.260042,
    0.242941,
    0.228004,
    0.214820,
    0.203078,
    0.192544,
    0.183033,
    0.174399,
    0.166521,
    0.159305,
    0.152667,
    0.146542,
    0.140872,
]
TRAIN_ACCURACY_LINE = "train accuracy: 99.04306220095694 %"
TEST_ACCURACY_LINE = "test accuracy: 70.0 %"
TRAIN_CORRECT, TRAIN_EXAMPLES = 207, 209
TEST_CORRECT, TEST_EXAMPLES = 35, 50
TRAIN_CATS, TEST_CATS = 72, 33
# The accuracies as catclf shows them: to two places, with the count they stand for.
TRAIN_ACCURACY_SHOWN = "99.04 % (207/209)"
TEST_ACCURACY_SHOWN = "70.00 % (35/50)"

# The learning-rate exercise: 1500 iterations at each rate, accuracies as counts of the
# 209 training and 50 test images (99.52 % and 68 %, 88.99 % and 64 %, 68.42 % and 36 %).
SWEEP_ITERATIONS = 1500
SWEEP_RATES = [0.01, 0.001, 0.0001]
SWEEP_TRAIN_CORRECT = [208, 186, 143]
SWEEP_TEST_CORRECT = [34, 32, 18]
