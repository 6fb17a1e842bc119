/* The fusion pass's runtime: one Python function, run(kernel, spec, *arrays), that checks
 * each array against the spec and calls the generated C kernel with their data pointers.
 *
 * kernel: the address of a generated `long kernel(char **data)` (an int); spec: bytes of
 * three int64 per array (numpy type number, number of elements, 1 if the kernel writes it).
 * An array that is not a C-contiguous numpy array of that type and size (or is read-only
 * where the kernel writes) is a TypeError naming it: the kernel never reads past an array.
 * Returns what the kernel returns (its floating-point status and trap bits). Built once per
 * machine by tinygrad_mlp/jit/cc.py and kept in its cache.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

#define MAX_ARRAYS 256

typedef long (*kernel_fn)(char **);

static PyObject *run(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    char *data[MAX_ARRAYS];
    Py_ssize_t n = nargs - 2;
    if (nargs < 2 || n > MAX_ARRAYS || !PyBytes_Check(args[1]) ||
        PyBytes_GET_SIZE(args[1]) != (Py_ssize_t)(3 * n * sizeof(long long))) {
        PyErr_SetString(PyExc_TypeError, "jit: run(kernel, spec, *arrays): spec must hold 3 int64 per array");
        return NULL;
    }
    kernel_fn fn = (kernel_fn)PyLong_AsVoidPtr(args[0]);
    if (fn == NULL) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "jit: run: the kernel address is 0");
        return NULL;
    }
    const long long *spec = (const long long *)PyBytes_AS_STRING(args[1]);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *a = args[i + 2];
        const long long *s = spec + 3 * i;
        if (!PyArray_Check(a) || PyArray_TYPE((PyArrayObject *)a) != s[0] ||
            PyArray_SIZE((PyArrayObject *)a) != s[1] || !PyArray_IS_C_CONTIGUOUS((PyArrayObject *)a) ||
            (s[2] && !PyArray_ISWRITEABLE((PyArrayObject *)a))) {
            PyErr_Format(PyExc_TypeError,
                         "jit: a fused kernel's array %zd is not a %s C-contiguous numpy array of %lld "
                         "elements of numpy type number %lld",
                         i, s[2] ? "writeable" : "", s[1], s[0]);
            return NULL;
        }
        data[i] = PyArray_BYTES((PyArrayObject *)a);
    }
    return PyLong_FromLong(fn(data));
}

static PyMethodDef methods[] = {
    {"run", (PyCFunction)(void (*)(void))run, METH_FASTCALL, "run(kernel, spec, *arrays) -> status"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_tinygrad_mlp_fuse_rt", NULL, -1, methods};

PyMODINIT_FUNC PyInit__tinygrad_mlp_fuse_rt(void) {
    import_array();
    return PyModule_Create(&module);
}
