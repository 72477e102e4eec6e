/*
 * Host runner for a generated model: one process runs every input.
 *   tinyml_host <inputs.bin> <outputs.bin>
 * inputs.bin holds N inputs of TINYML_MODEL_INPUT_SIZE int8 values back to back;
 * outputs.bin receives N outputs of TINYML_MODEL_OUTPUT_SIZE int8 values.
 */
#include <stdio.h>
#include <stdlib.h>

#include MODEL_HEADER

int main(int argc, char **argv) {
  static int8_t input[TINYML_MODEL_INPUT_SIZE];
  static int8_t output[TINYML_MODEL_OUTPUT_SIZE];
  FILE *fin;
  FILE *fout;
  long n = 0;
  if (argc != 3) {
    fprintf(stderr, "usage: %s inputs.bin outputs.bin\n", argv[0]);
    return 2;
  }
  fin = fopen(argv[1], "rb");
  fout = fopen(argv[2], "wb");
  if (fin == NULL || fout == NULL) {
    fprintf(stderr, "cannot open %s or %s\n", argv[1], argv[2]);
    return 2;
  }
  while (fread(input, 1, sizeof input, fin) == sizeof input) {
    tinyml_model_invoke(input, output);
    if (fwrite(output, 1, sizeof output, fout) != sizeof output) {
      fprintf(stderr, "write error\n");
      return 2;
    }
    ++n;
  }
  fclose(fin);
  fclose(fout);
  fprintf(stderr, "%s: %ld inferences\n", TINYML_MODEL_NAME, n);
  return 0;
}
